/** Things to undo, undone in reverse order of doing; a failing step does not stop the rest. */
export class Teardown {
  private readonly steps: { what: string; undo: () => Promise<unknown> }[] = [];
  readonly failures: string[] = [];

  add(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  async run(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      await step.undo().catch((err: unknown) => this.failures.push(`${step?.what}: ${(err as Error).message}`));
    }
  }
}
