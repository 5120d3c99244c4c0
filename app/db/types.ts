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
  owner_id: string;
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
  graphile_worker_ids: ColumnType<string[], string[] | undefined, string[]>;
}

export type PaymentStatus =
  | 'PENDING'
  | 'PROCESSING'
  | 'COMPLETED'
  | 'REJECTED'
  | 'FAILED'
  | 'PARTIALLY_REFUNDED'
  | 'REFUNDED';
export type SagaStep =
  | 'requested'
  | 'fraud_checked'
  | 'debited'
  | 'charge_requested'
  | 'completed'
  | 'rejected'
  | 'failed';
export type FailureReason =
  | 'FRAUD_SUSPECTED'
  | 'INSUFFICIENT_FUNDS'
  | 'GATEWAY_DECLINED'
  | 'GATEWAY_UNAVAILABLE';
export type Provider = 'alpha' | 'beta';

export interface PaymentTable {
  id: string;
  wallet_id: string;
  /** The wallet's owner (foreign key payment_wallet_owner): every caller's read filters on it. */
  owner_id: string;
  service_id: string;
  amount: number;
  currency: string;
  method: 'balance';
  description: string | null;
  metadata: Json<Record<string, string>>;
  status: PaymentStatus;
  saga_step: SagaStep;
  failure_reason: FailureReason | null;
  provider: Provider | null;
  refunded_amount: ColumnType<number, number | undefined, number>;
  refund_reserved: ColumnType<number, number | undefined, number>;
  version: number;
  trace_id: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  completed_at: Timestamp | null;
}

export interface PaymentStepTable {
  id: Generated<number>;
  payment_id: string;
  name: string;
  status: string;
  attempt: ColumnType<number, number | undefined, number>;
  detail: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  at: Timestamp;
}

export type ChargeAttemptStatus = 'unknown' | 'not_created' | 'pending' | 'succeeded' | 'failed' | 'canceled';

export interface ChargeAttemptTable {
  id: Generated<number>;
  payment_id: string;
  provider: Provider;
  idempotency_key: string | null;
  gateway_charge_id: string | null;
  amount: number;
  currency: string;
  status: ChargeAttemptStatus;
  calls: ColumnType<number, number | undefined, number>;
  refused_calls: ColumnType<number, number | undefined, number>;
  settled_by: string | null;
  decline_code: string | null;
  last_error: string | null;
  polls: ColumnType<number, number | undefined, number>;
  stray_detected_at: Timestamp | null;
  stray_refund_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ReconciliationDifferenceTable {
  id: Generated<number>;
  payment_id: string;
  provider: string;
  kind: 'charge_missing' | 'unexpected_charge' | 'amount_mismatch' | 'refunds_mismatch' | 'lookup_failed';
  detail: Json<Record<string, unknown>>;
  found_at: Timestamp;
  resolved_at: Timestamp | null;
  resolution: string | null;
  replayed_by: 'operator' | 'product' | null;
}

export interface ReconciliationCheckTable {
  payment_id: string;
  checked_version: number;
  checked_at: Timestamp;
  clean: boolean;
}

export interface GatewayWebhookEventTable {
  provider: string;
  event_id: string;
  type: string;
  charge_id: string;
  received_at: Timestamp;
}

export interface RefundTable {
  id: string;
  payment_id: string;
  amount: number;
  reason: string | null;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  failure_reason: string | null;
  gateway_calls: ColumnType<number, number | undefined, number>;
  refused_calls: ColumnType<number, number | undefined, number>;
  gateway_refund_id: string | null;
  trace_id: string;
  created_at: Timestamp;
  completed_at: Timestamp | null;
}

export interface FraudBlocklistTable {
  kind: 'wallet' | 'owner' | 'service';
  value: string;
  reason: string;
  added_at: Timestamp;
}

export interface DeadLetterJobTable {
  id: Generated<number>;
  job_id: number;
  task: string;
  payload: ColumnType<Record<string, unknown>, string, string>;
  attempts: number;
  last_error: string;
  payment_id: string | null;
  first_failed_at: Timestamp;
  last_failed_at: Timestamp;
  replayed_at: Timestamp | null;
  replay_job_id: number | null;
  resolved_at: Timestamp | null;
  resolution: string | null;
}

export interface RelayProgressTable {
  slot_name: string;
  acked_lsn: string | null;
  last_commit_at: Timestamp | null;
  events_relayed: ColumnType<number, number | undefined, number>;
  leader_instance: string;
  backfill_completed_at: Timestamp | null;
  updated_at: Timestamp;
}

export interface RelayQuarantineTable {
  id: Generated<number>;
  outbox_id: number;
  event_id: string;
  topic: string;
  key: string;
  size_bytes: number;
  reason: 'message_too_large' | 'broker_refused_too_large';
  detail: string;
  quarantined_at: Generated<Timestamp>;
  resolved_at: Timestamp | null;
  resolution: 'republished' | 'accepted' | null;
  resolution_note: string | null;
}

export interface AuditRunTable {
  id: Generated<number>;
  ran_at: Timestamp;
  discrepancies: number;
  details: ColumnType<Record<string, number>, string, string>;
  kind: ColumnType<'full' | 'incremental', 'full' | 'incremental' | undefined, never>;
  /** The event store's position the run looked up to (the next incremental run starts from it). */
  through_position: ColumnType<string | null, string | null | undefined, never>;
  /** The aggregates found wrong, looked at again by the next incremental run. */
  flagged: ColumnType<{ wallets?: string[]; payments?: string[] }, string | undefined, never>;
}

export type ApiKeyScope = 'read' | 'write';

export interface ApiKeyTable {
  id: string;
  prefix: string;
  key_hash: Buffer;
  owner_id: string;
  scopes: ApiKeyScope[];
  description: string | null;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface DB {
  api_keys: ApiKeyTable;
  audit_runs: AuditRunTable;
  relay_progress: RelayProgressTable;
  relay_quarantine: RelayQuarantineTable;
  payments: PaymentTable;
  payment_steps: PaymentStepTable;
  charge_attempts: ChargeAttemptTable;
  gateway_reconciliation_differences: ReconciliationDifferenceTable;
  gateway_reconciliation_checks: ReconciliationCheckTable;
  gateway_webhook_events: GatewayWebhookEventTable;
  refunds: RefundTable;
  fraud_blocklist: FraudBlocklistTable;
  dead_letter_jobs: DeadLetterJobTable;
  wallets: WalletTable;
  ledger_entries: LedgerEntryTable;
  events: EventTable;
  outbox: OutboxTable;
  idempotency_keys: IdempotencyKeyTable;
  process_heartbeats: ProcessHeartbeatTable;
}
