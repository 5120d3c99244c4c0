/** Log sequence numbers ("16/B374D848") as bigints, for comparisons and arithmetic. */
export function lsnToBigInt(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi ?? '0'}`) << 32n) + BigInt(`0x${lo ?? '0'}`);
}

export function bigIntToLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * pg-logical-replication's acknowledge(lsn) reports lsn + 1 as flushed. For a keepalive's LSN
 * (the position up to which the server has sent WAL, where the next record may start) that would
 * confirm one byte too many, so acknowledge lsn - 1 instead.
 */
export function lsnMinusOne(lsn: string): string {
  const value = lsnToBigInt(lsn);
  return value === 0n ? lsn : bigIntToLsn(value - 1n);
}
