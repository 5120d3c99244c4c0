import { RateLimiterPostgres } from 'rate-limiter-flexible';

/**
 * rate-limiter-flexible's Postgres store, timed by Postgres's clock instead of this process's.
 * The library's store writes and compares expiries with the API process's `Date.now()`: an API host
 * whose clock is minutes ahead would find every window expired (never refusing), and write
 * expiries that make the other processes refuse for minutes. Here the two statements that touch
 * time take it from `clock_timestamp()`; the expiry they return is translated into this process's
 * clock, so the library's own arithmetic (`expire - Date.now()`: Retry-After, the in-memory block)
 * stays right. Same table layout, same semantics as the library's `_upsert` and `_get` of 11.4
 * (pinned exactly in package.json; test/callers.test.ts drives it with one host's clock ten
 * minutes ahead).
 */
interface StoreInternals {
  _getTableIdentifier(): string;
  _query(q: {
    name: string;
    text: string;
    values: unknown[];
  }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

export class PostgresClockRateLimiter extends RateLimiterPostgres {
  _upsert(key: string, points: number, msDuration: number, forceExpire = false) {
    const store = this as unknown as StoreInternals;
    const t = store._getTableIdentifier();
    // A window ends at Postgres's now + duration (none for duration 0); an ended window starts
    // afresh with these points; forceExpire (the library's block and set) always starts afresh.
    return store._query({
      name: forceExpire ? 'wp-rl-upsert-force' : 'wp-rl-upsert',
      text: `
        with clock as (select ${NOW_MS} as now_ms)
        insert into ${t} (key, points, expire)
        select $1, $2, case when $3::bigint > 0 then now_ms + $3::bigint end from clock
        on conflict (key) do update set
          points = case when $4::boolean or ${t}.expire <= (select now_ms from clock) then excluded.points
                        else ${t}.points + excluded.points end,
          expire = case when $4::boolean or ${t}.expire <= (select now_ms from clock) then excluded.expire
                        else ${t}.expire end
        returning points, expire - (select now_ms from clock) + $5::bigint as expire`,
      values: [key, points, msDuration, forceExpire, Date.now()],
    });
  }

  _get(rlKey: string) {
    const store = this as unknown as StoreInternals;
    const t = store._getTableIdentifier();
    return store
      ._query({
        name: 'wp-rl-get',
        text: `
          with clock as (select ${NOW_MS} as now_ms)
          select points, expire - now_ms + $2::bigint as expire from ${t}, clock
           where key = $1 and (expire > now_ms or expire is null)`,
        values: [rlKey, Date.now()],
      })
      .then((res) => (res.rowCount === 0 ? null : res));
  }
}
