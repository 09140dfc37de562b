// What every contract of a seam shares (the store parts, the bus, the message log): named cases in
// order, each run as a step by every implementation, and a skip list by case name whose reason
// shows in the step's name. A skip that names no case fails the run: left behind by a rename, it
// would hide nothing but say something false.
import assert from "node:assert/strict";

/** Cases that do not apply to an implementation: case name → the reason. */
export type SkipList = Record<string, string>;

/** The cases of one contract, by name, in order. */
export class Contract<C> {
  readonly #cases = new Map<string, C>();

  /** Adds a case. */
  test(name: string, run: C): void {
    assert.ok(!this.#cases.has(name), `two cases named "${name}"`);
    this.#cases.set(name, run);
  }

  /**
   * Runs every case as a step of `t` through `each` (which opens, runs the case and closes), but
   * those `skip` names, reported as ignored with the reason.
   *
   * @throws {AssertionError} when `skip` names a case the contract does not have
   */
  async steps(
    t: Deno.TestContext,
    skip: SkipList,
    each: (run: C) => Promise<void>,
  ): Promise<void> {
    for (const name of Object.keys(skip)) {
      assert.ok(
        this.#cases.has(name),
        `the skip list names "${name}", which is no case of the contract`,
      );
    }
    for (const [name, run] of this.#cases) {
      const reason = skip[name];
      await t.step({
        name: reason === undefined ? name : `${name} (skipped: ${reason})`,
        ignore: reason !== undefined,
        fn: () => each(run),
      });
    }
  }
}
