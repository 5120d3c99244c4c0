import { type Request, type Response, Router } from 'express';
import { tagTransactionWithTrace } from '../db/trace-transaction.ts';
import { Forbidden, WalletNotFound } from '../errors.ts';
import { callerClaim, callerOf } from '../http/callers.ts';
import { decodeCursor, pageQuerySchema, toPage } from '../http/cursor.ts';
import type { AppDeps } from '../http/deps.ts';
import { idempotencyKeyHeaders, openApiRegistry, problemResponses } from '../http/openapi.ts';
import { parseBody, parseId, parseQuery } from '../http/validation.ts';
import { amountSchema, currencySchema, z } from '../http/zod.ts';
import { idempotencyOptionsFrom, runIdempotent } from '../idempotency/idempotency.ts';
import { idempotencyKeyOf } from '../idempotency/request-identity.ts';
import { walletDepositedAmountTotal, walletDepositsTotal } from '../observability/metrics.ts';
import { createWallet, depositToWallet } from './wallet.commands.ts';
import { findOwnedWallet, listLedgerEntries } from './wallet.repository.ts';
import { ledgerEntrySchema, ledgerEntryView, walletSchema, walletView } from './wallet.views.ts';

const createWalletBody = z
  .strictObject({
    // The owner is the caller's key's owner; sent, it must be that owner.
    owner_id: z.string().min(1).max(128).optional().openapi({ example: 'user-42' }),
    currency: currencySchema,
  })
  .openapi('CreateWallet');

const depositBody = z
  .strictObject({
    amount: amountSchema,
    reference: z.string().min(1).max(255).optional().openapi({ example: 'top-up 2026-11' }),
  })
  .openapi('CreateDeposit');

const walletIdParam = z.object({ id: z.uuid() });

export function walletsRouter({ db, config }: AppDeps): Router {
  const router = Router();
  const idempotency = idempotencyOptionsFrom(config);

  // The Idempotency-Key is optional here (creating a wallet moves no money); when sent, it holds.
  router.post('/wallets', async (req: Request, res: Response) => {
    const body = parseBody(createWalletBody, req);
    const ownerId = callerOf(req).ownerId;
    if (body.owner_id !== undefined && body.owner_id !== ownerId)
      throw new Forbidden(
        `This key acts for owner "${ownerId}"; it cannot create a wallet for another owner.`,
      );
    const command = async (trx: Parameters<Parameters<typeof runIdempotent>[3]>[0]) => {
      const wallet = await createWallet(trx, {
        ownerId,
        currency: body.currency,
        traceId: req.traceId,
      });
      return { status: 201, body: walletView(wallet) };
    };
    const key = idempotencyKeyOf(req, false);
    const result = key
      ? await runIdempotent(db, idempotency, callerClaim(req, 'POST /wallets', key), command)
      : {
          ...(await db.transaction().execute(async (trx) => {
            await tagTransactionWithTrace(trx);
            return command(trx);
          })),
          replayed: false,
        };
    send(res, result);
  });

  router.get('/wallets/:id', async (req, res) => {
    const id = parseId(req.params.id, (raw) => new WalletNotFound(raw));
    const wallet = await findOwnedWallet(db, callerOf(req).ownerId, id);
    if (!wallet) throw new WalletNotFound(id);
    res.json(walletView(wallet));
  });

  router.post('/wallets/:id/deposits', async (req, res) => {
    const walletId = parseId(req.params.id, (raw) => new WalletNotFound(raw));
    const body = parseBody(depositBody, req);
    const key = idempotencyKeyOf(req, true) as string;
    const ownerId = callerOf(req).ownerId;
    const result = await runIdempotent(
      db,
      idempotency,
      callerClaim(req, 'POST /wallets/:id/deposits', key),
      async (trx) => {
        // The owner never changes: checked here, it holds for the deposit in this transaction.
        if (!(await findOwnedWallet(trx, ownerId, walletId))) throw new WalletNotFound(walletId);
        const { wallet, entry } = await depositToWallet(trx, {
          walletId,
          amount: body.amount,
          reference: body.reference ?? null,
          sourceRef: `deposit:${walletId}:${key}`,
          traceId: req.traceId,
        });
        return { status: 201, body: { wallet: walletView(wallet), entry: ledgerEntryView(entry) } };
      },
    );
    if (!result.replayed) {
      walletDepositsTotal.inc({
        currency: (result.body as { wallet: { currency: string } }).wallet.currency,
      });
      walletDepositedAmountTotal.inc(
        { currency: (result.body as { wallet: { currency: string } }).wallet.currency },
        body.amount,
      );
    }
    send(res, result);
  });

  router.get('/wallets/:id/ledger', async (req, res) => {
    const walletId = parseId(req.params.id, (raw) => new WalletNotFound(raw));
    const query = parseQuery(pageQuerySchema, req);
    const before = decodeCursor(query.cursor);
    const ownerId = callerOf(req).ownerId;
    if (!(await findOwnedWallet(db, ownerId, walletId))) throw new WalletNotFound(walletId);
    const rows = await listLedgerEntries(db, ownerId, walletId, query.limit, before);
    res.json(toPage(rows, query.limit, (r) => r.seq, ledgerEntryView));
  });

  return router;
}

function send(res: Response, result: { status: number; body: unknown; replayed: boolean }): void {
  if (result.replayed) res.set('Idempotent-Replayed', 'true');
  res.status(result.status).json(result.body);
}

openApiRegistry.registerPath({
  method: 'post',
  path: '/wallets',
  tags: ['wallets'],
  summary: 'Create a wallet',
  request: { body: { content: { 'application/json': { schema: createWalletBody } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: walletSchema } } },
    ...problemResponses(401, 403, 429, 400, 409, 413, 415, 422),
  },
});
openApiRegistry.registerPath({
  method: 'get',
  path: '/wallets/{id}',
  tags: ['wallets'],
  summary: 'Get a wallet',
  request: { params: walletIdParam },
  responses: {
    200: { description: 'The wallet', content: { 'application/json': { schema: walletSchema } } },
    ...problemResponses(401, 429, 400, 404),
  },
});
openApiRegistry.registerPath({
  method: 'post',
  path: '/wallets/{id}/deposits',
  tags: ['wallets'],
  summary: 'Deposit (top up) into a wallet, exactly once per Idempotency-Key',
  request: {
    params: walletIdParam,
    headers: idempotencyKeyHeaders,
    body: { content: { 'application/json': { schema: depositBody } } },
  },
  responses: {
    201: {
      description: 'Deposited (replays add the header Idempotent-Replayed: true)',
      content: {
        'application/json': { schema: z.object({ wallet: walletSchema, entry: ledgerEntrySchema }) },
      },
    },
    ...problemResponses(401, 403, 429, 400, 404, 409, 413, 415, 422),
  },
});
openApiRegistry.registerPath({
  method: 'get',
  path: '/wallets/{id}/ledger',
  tags: ['wallets'],
  summary: 'Ledger entries, newest first, with cursor pagination',
  request: { params: walletIdParam, query: pageQuerySchema },
  responses: {
    200: {
      description: 'A page of entries',
      content: {
        'application/json': {
          schema: z.object({ items: z.array(ledgerEntrySchema), next_cursor: z.string().nullable() }),
        },
      },
    },
    ...problemResponses(401, 429, 400, 404, 422),
  },
});
