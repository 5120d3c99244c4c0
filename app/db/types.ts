import type { ColumnType, Generated } from 'kysely';

/**
 * Table types for kysely. int8 columns arrive as safe-integer numbers (see ./database.ts, the one
 * place the pg type parser is set); timestamps as Date.
 */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string, string>;

export interface WalletTable {
  id: string;
  owner_id: string;
  currency: string;
  balance: ColumnType<number, number | undefined, number>;
  version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type LedgerEntryType = 'DEPOSIT' | 'PAYMENT_DEBIT' | 'PAYMENT_REVERSAL' | 'REFUND';

export interface LedgerEntryTable {
  id: string;
  seq: Generated<number>;
  wallet_id: string;
  type: LedgerEntryType;
  amount: number;
  balance_after: number;
  payment_id: string | null;
  source_ref: string;
  reference: string | null;
  event_id: string;
  created_at: Timestamp;
}

export interface EventTable {
  position: Generated<number>;
  event_id: string;
  aggregate_type: 'wallet' | 'payment';
  aggregate_id: string;
  version: number;
  event_type: string;
  data: Json<Record<string, unknown>>;
  trace_id: string;
  occurred_at: Timestamp;
}

export interface OutboxTable {
  id: Generated<number>;
  event_id: string;
  topic: string;
  key: string;
  event_type: string;
  headers: Json<Record<string, string>>;
  payload: Json<Record<string, unknown>>;
  created_at: Timestamp;
}

export interface IdempotencyKeyTable {
  scope: string;
  key: string;
  request_hash: string;
  status: 'IN_PROGRESS' | 'COMPLETED';
  claim_token: string;
  locked_until: Timestamp;
  response_status: number | null;
  response_body: ColumnType<unknown, string | null, string | null>;
  created_at: Timestamp;
  completed_at: Timestamp | null;
  expires_at: Timestamp;
}

export interface ProcessHeartbeatTable {
  instance_id: string;
  role: 'api' | 'worker' | 'relay';
  pid: number;
  hostname: string;
  started_at: Timestamp;
  last_seen_at: Timestamp;
}

export interface DB {
  wallets: WalletTable;
  ledger_entries: LedgerEntryTable;
  events: EventTable;
  outbox: OutboxTable;
  idempotency_keys: IdempotencyKeyTable;
  process_heartbeats: ProcessHeartbeatTable;
}
