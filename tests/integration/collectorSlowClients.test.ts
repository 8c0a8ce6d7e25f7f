/**
 * Slow clients against a spawned `cx collect`: headers trickled, a body trickled, a
 * connection that says nothing, an idle keep-alive. Each is cut off by its timeout.
 * Then SIGTERM while slow clients hold connections: the collector exits within its
 * shutdown bound (plus a generous margin), not when they leave.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../helpers.ts';
import { freePort, spawnCx, type Spawned } from '../processes.ts';

const spawned: Spawned[] = [];
afterAll(async () => {
  for (const s of spawned) if (s.child.exitCode === null) s.child.kill('SIGKILL');
});

async function collector(extra: Record<string, string>): Promise<{ port: number; proc: Spawned }> {
  const port = await freePort();
  const proc = await spawnCx(['collect', '--port', String(port)], isolatedEnv({ LOG_LEVEL: 'info', ...extra }), /Collector listening/);
  spawned.push(proc);
  return { port, proc };
}

interface Client {
  socket: Socket;
  received: () => string;
  closed: Promise<number>;
}

function client(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    socket.on('error', () => undefined); // a reset is one way of being closed
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.once('connect', () => resolve({ socket, received: () => got, closed }));
    socket.once('error', reject);
  });
}

/** Writes `text` a character every `everyMs` until the socket closes. */
function trickle(c: Client, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (c.socket.destroyed || i >= text.length) return clearInterval(timer);
    c.socket.write(text[i++] as string);
  }, everyMs);
  void c.closed.then(() => clearInterval(timer));
}

const within = (p: Promise<number>, ms: number) => Promise.race([p, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms))]);
const HEAD = 'POST /v1/touchpoints HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n';

describe('collector and slow clients (spawned cx collect)', () => {
  it('cuts off trickled headers, a trickled body, a silent connection and an idle keep-alive', async () => {
    const { port } = await collector({ CX_COLLECTOR_HEADERS_TIMEOUT_MS: '1000', CX_COLLECTOR_REQUEST_TIMEOUT_MS: '3000', CX_COLLECTOR_IDLE_TIMEOUT_MS: '500' });
    const t0 = Date.now();
    const headers = await client(port);
    trickle(headers, `${HEAD}X-Slow: ${'a'.repeat(10_000)}\r\n\r\n`, 100);
    const body = await client(port);
    body.socket.write(`${HEAD}Content-Length: 5000\r\n\r\n`);
    trickle(body, `[${' '.repeat(4998)}]`, 100);
    const silent = await client(port);
    const idle = await client(port);
    idle.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');

    // Bounds: the timeout, plus Node's checking interval, plus a generous margin on a busy machine.
    await within(headers.closed, 1000 + 5000);
    await within(silent.closed, 1000 + 5000);
    await within(idle.closed, 500 + 5000);
    await within(body.closed, 3000 + 5000);
    expect(idle.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(body.received()).toMatch(/^HTTP\/1\.1 408/);
    // Trickled headers never finish within the headers timeout: the request is refused as it stands.
    expect(headers.received()).toMatch(/^(HTTP\/1\.1 408|)/);
    process.stderr.write(`collectorSlowClients: all four cut off within ${Date.now() - t0} ms\n`);
  });

  it('exits on SIGTERM within its shutdown bound while slow clients hold connections', async () => {
    const SHUTDOWN_MS = 2000;
    // Long timeouts, so only the shutdown bound can free the process.
    const { port, proc } = await collector({ CX_COLLECTOR_HEADERS_TIMEOUT_MS: '60000', CX_COLLECTOR_REQUEST_TIMEOUT_MS: '120000', CX_COLLECTOR_IDLE_TIMEOUT_MS: '60000', CX_COLLECTOR_SHUTDOWN_MS: String(SHUTDOWN_MS) });
    const clients: Client[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await client(port);
      c.socket.write(`${HEAD}Content-Length: 100000\r\n\r\n[`);
      trickle(c, ' '.repeat(99_998), 250);
      clients.push(c);
    }
    for (let i = 0; i < 10; i++) {
      const c = await client(port);
      trickle(c, `${HEAD}X-Slow: ${'a'.repeat(10_000)}\r\n\r\n`, 250);
      clients.push(c);
    }
    const idle = await client(port);
    idle.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    clients.push(idle);
    await new Promise((r) => setTimeout(r, 1000));
    expect(clients.every((c) => !c.socket.destroyed)).toBe(true);

    const t = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await Promise.race([proc.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`cx collect still running ${SHUTDOWN_MS + 5000} ms after SIGTERM:\n${proc.output()}`)), SHUTDOWN_MS + 5000))]);
    expect(exit.code).toBe(0);
    await Promise.all(clients.map((c) => within(c.closed, 5000)));
    process.stderr.write(`collectorSlowClients: exited ${exit.at - t} ms after SIGTERM with ${clients.length} slow clients connected\n`);
    expect(proc.output()).toContain('collector stopped');
  });
});
