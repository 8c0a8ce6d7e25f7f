// The entry of a stage thread (pipeline/stageThread.ts): sources are TypeScript, run through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('./stageThreadWorker.ts');
