# The pipeline's own services (processor, emitter, collector) and its tools (`cx report`,
# `cx dashboards build`, `cx sql`). Used by docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY platform ./platform
COPY producers ./producers
COPY processors ./processors
COPY schemas ./schemas
COPY kafka ./kafka
COPY examples ./examples
COPY dashboards ./dashboards
COPY report ./report
ENV NODE_ENV=production
ENTRYPOINT ["node", "bin/cx.js"]
CMD ["process"]
