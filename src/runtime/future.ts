/** The result of a fork: `join()` waits for it (and rethrows the branch's error). */
export class Future<T> implements PromiseLike<T> {
  constructor(private readonly promise: Promise<T>) {
    // The error surfaces at join(); until then it is not an unhandled rejection.
    promise.catch(() => undefined);
  }

  /** Waits for the branch and returns its result, or rethrows its error. */
  join(): Promise<T> {
    return this.promise;
  }

  // biome-ignore lint/suspicious/noThenProperty: a Future is a thenable on purpose, so callers can await it
  then<A = T, B = never>(
    onOk?: ((v: T) => A | PromiseLike<A>) | null,
    onErr?: ((e: unknown) => B | PromiseLike<B>) | null,
  ): PromiseLike<A | B> {
    return this.promise.then(onOk, onErr);
  }
}
