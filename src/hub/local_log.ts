// The message log of one node: a message is numbered at once, fanned out by the hub, then
// committed with the others queued since the last commit (store/group_commit.ts); durable once
// its commit is done.
import type { GroupCommit } from "../store/group_commit.ts";
import type { Draft, Durable, Local, LogReader, MessageLog } from "./message_log.ts";

/** {@link MessageLog} of a single server, over its store's group commit. */
export class LocalLog implements MessageLog {
  readonly #commits: GroupCommit;
  #reader: LogReader | undefined;

  constructor(commits: GroupCommit) {
    this.#commits = commits;
  }

  attach(reader: LogReader): void {
    this.#reader = reader;
  }

  append(draft: Draft, local: Local, durable?: Durable): void {
    const seq = this.#commits.nextSeq();
    const item = this.#reader!.numbered(seq, draft);
    // Fan-out first: recipients never wait for the disk, only the sender's ack does.
    this.#reader!.fanOut(item, draft, local);
    this.#commits.append(item, durable && ((error) => durable(seq, error)));
  }

  flushed(): Promise<void> {
    return this.#commits.flushed();
  }
}
