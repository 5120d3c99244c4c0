import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { z } from 'zod';
import type { Trx } from '../db/database.ts';
import type { LedgerEntryType } from '../db/types.ts';
import { WalletNotFound } from '../errors.ts';
import { type EventData, eventCatalogue } from '../events/catalogue.ts';
import { BalanceLimitExceeded } from './wallet.balance.ts';
import type { LedgerEntryRow, WalletRow } from './wallet.repository.ts';

type WalletMoneyEvent =
  | 'wallet.deposited'
  | 'wallet.debited'
  | 'wallet.debit_reversed'
  | 'wallet.refund_credited';

/** What the database completes in a wallet event's data: it knows them only under the lock. */
type CompletedInSql = 'entry_id' | 'balance_after' | 'currency';

export interface MoneyMovement<T extends WalletMoneyEvent> {
  walletId: string;
  entryType: LedgerEntryType;
  /** Magnitude in minor units; the sign comes from the entry type. */
  amount: number;
  paymentId: string | null;
  /** Unique in the ledger: the same movement can never be applied twice. */
  sourceRef: string;
  reference: string | null;
  traceId: string;
  eventType: T;
  /** The event's data but for entry_id, balance_after and currency, which wallet__move adds. */
  eventData: Omit<EventData<T>, CompletedInSql>;
}

export type MovementResult =
  | { ok: true; wallet: WalletRow; entry: LedgerEntryRow }
  | { ok: false; reason: 'INSUFFICIENT_FUNDS'; wallet: WalletRow };

interface MoveRow {
  refused: 'WALLET_NOT_FOUND' | 'INSUFFICIENT_FUNDS' | 'BALANCE_LIMIT_EXCEEDED' | null;
  id: string;
  owner_id: string;
  currency: string;
  balance: number;
  version: number;
  created_at: Date;
  updated_at: Date;
  entry_seq: number | null;
  entry_amount: number | null;
  entry_balance_after: number | null;
  entry_created_at: Date | null;
}

/**
 * The only way money moves, in one round trip (db/functions/wallet__move.sql): locks the wallet,
 * refuses a debit the balance cannot cover (a business outcome, returned, not thrown), then
 * appends the wallet event, the ledger entry and the new balance, on `trx`. The event's data is
 * checked against the catalogue here first, but for the fields the database adds.
 * Throws WalletNotFound, BalanceLimitExceeded.
 */
export async function moveWalletMoney<T extends WalletMoneyEvent>(
  trx: Trx,
  m: MoneyMovement<T>,
): Promise<MovementResult> {
  const schema = eventCatalogue[m.eventType].data as unknown as z.ZodObject;
  const data = schema.omit({ entry_id: true, balance_after: true, currency: true }).parse(m.eventData);
  const entryId = randomUUID();
  const eventId = randomUUID();
  const { rows } = await sql<MoveRow>`
    select * from wallet__move(${m.walletId}::uuid, ${m.entryType}, ${m.amount}::bigint, ${m.paymentId}::uuid,
                               ${m.sourceRef}, ${m.reference}, ${m.traceId}, ${eventId}::uuid, ${entryId}::uuid,
                               ${m.eventType}, ${JSON.stringify(data)}::jsonb)`.execute(trx);
  const row = rows[0];
  if (!row || row.refused === 'WALLET_NOT_FOUND') throw new WalletNotFound(m.walletId);
  if (row.refused === 'BALANCE_LIMIT_EXCEEDED') throw new BalanceLimitExceeded();
  const wallet: WalletRow = {
    id: row.id,
    owner_id: row.owner_id,
    currency: row.currency,
    balance: row.balance,
    version: row.version,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
  if (row.refused === 'INSUFFICIENT_FUNDS') return { ok: false, reason: 'INSUFFICIENT_FUNDS', wallet };
  const entry: LedgerEntryRow = {
    id: entryId,
    seq: row.entry_seq as number,
    wallet_id: row.id,
    type: m.entryType,
    amount: row.entry_amount as number,
    balance_after: row.entry_balance_after as number,
    payment_id: m.paymentId,
    source_ref: m.sourceRef,
    reference: m.reference,
    event_id: eventId,
    created_at: row.entry_created_at as Date,
  };
  return { ok: true, wallet, entry };
}
