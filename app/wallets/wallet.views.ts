import { timestampSchema, z } from '../http/zod.ts';
import type { LedgerEntryRow, WalletRow } from './wallet.repository.ts';

/** The wire shapes of the API (published in its OpenAPI document): snake_case, ISO timestamps, money as integer numbers. */
export const walletSchema = z
  .object({
    id: z.uuid(),
    owner_id: z.string(),
    currency: z.string(),
    balance: z.number().int(),
    version: z.number().int(),
    created_at: timestampSchema,
    updated_at: timestampSchema,
  })
  .openapi('Wallet');

export const ledgerEntrySchema = z
  .object({
    id: z.uuid(),
    wallet_id: z.uuid(),
    type: z.enum(['DEPOSIT', 'PAYMENT_DEBIT', 'PAYMENT_REVERSAL', 'REFUND']),
    amount: z.number().int().openapi({ description: 'Signed: debits are negative' }),
    balance_after: z.number().int(),
    payment_id: z.uuid().nullable(),
    reference: z.string().nullable(),
    created_at: timestampSchema,
  })
  .openapi('LedgerEntry');

export type WalletView = z.infer<typeof walletSchema>;
export type LedgerEntryView = z.infer<typeof ledgerEntrySchema>;

export function walletView(w: WalletRow): WalletView {
  return {
    id: w.id,
    owner_id: w.owner_id,
    currency: w.currency,
    balance: w.balance,
    version: w.version,
    created_at: w.created_at.toISOString(),
    updated_at: w.updated_at.toISOString(),
  };
}

export function ledgerEntryView(e: LedgerEntryRow): LedgerEntryView {
  return {
    id: e.id,
    wallet_id: e.wallet_id,
    type: e.type,
    amount: e.amount,
    balance_after: e.balance_after,
    payment_id: e.payment_id,
    reference: e.reference,
    created_at: e.created_at.toISOString(),
  };
}
