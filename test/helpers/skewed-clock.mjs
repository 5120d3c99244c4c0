// Preloaded into a role process (NODE_OPTIONS=--import) to put its wall clock off by
// TEST_CLOCK_OFFSET_MS, as on a host whose clock drifted: Date.now() and new Date() move, timers
// and performance.now() do not. Postgres keeps the true time, so any decision about shared state
// taken with this process's clock shows up as premature or late.
const offset = Number(process.env.TEST_CLOCK_OFFSET_MS ?? 0);
const RealDate = globalThis.Date;

class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }

  static now() {
    return RealDate.now() + offset;
  }
}

globalThis.Date = SkewedDate;
