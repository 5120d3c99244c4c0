import type { Selectable } from 'kysely';
import type { Db, Trx } from '../db/database.ts';
import type { LedgerEntryTable, WalletTable } from '../db/types.ts';

export type WalletRow = Selectable<WalletTable>;
export type LedgerEntryRow = Selectable<LedgerEntryTable>;

/**
 * Locks the wallet row until the transaction ends: the per-wallet serialisation point. FOR NO KEY
 * UPDATE, not FOR UPDATE: we never change a wallet's key, and FOR UPDATE would also block the KEY
 * SHARE lock that every insert referencing the wallet (a payment) takes for its foreign key.
 */
export function lockWalletById(trx: Trx, id: string): Promise<WalletRow | undefined> {
  return trx.selectFrom('wallets').selectAll().where('id', '=', id).forNoKeyUpdate().executeTakeFirst();
}

export function findWalletById(db: Db, id: string): Promise<WalletRow | undefined> {
  return db.selectFrom('wallets').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The wallet if it exists and belongs to `ownerId`: another owner's wallet is not found. */
export function findOwnedWallet(db: Db | Trx, ownerId: string, id: string): Promise<WalletRow | undefined> {
  return db
    .selectFrom('wallets')
    .selectAll()
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .executeTakeFirst();
}

export function insertWallet(
  trx: Trx,
  wallet: Pick<WalletRow, 'id' | 'owner_id' | 'currency' | 'version'>,
): Promise<WalletRow> {
  return trx.insertInto('wallets').values(wallet).returningAll().executeTakeFirstOrThrow();
}

export function findLedgerEntryBySource(
  db: Db | Trx,
  sourceRef: string,
): Promise<LedgerEntryRow | undefined> {
  return db.selectFrom('ledger_entries').selectAll().where('source_ref', '=', sourceRef).executeTakeFirst();
}

/** Newest first; `beforeSeq` is the cursor (exclusive). Fetches one extra row to know if more exist. */
export function listLedgerEntries(
  db: Db,
  ownerId: string,
  walletId: string,
  limit: number,
  beforeSeq?: number,
): Promise<LedgerEntryRow[]> {
  let query = db
    .selectFrom('ledger_entries')
    .selectAll()
    .where('wallet_id', '=', walletId)
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('wallets').select('id').where('id', '=', walletId).where('owner_id', '=', ownerId)),
    );
  if (beforeSeq !== undefined) query = query.where('seq', '<', beforeSeq);
  return query
    .orderBy('seq', 'desc')
    .limit(limit + 1)
    .execute();
}
