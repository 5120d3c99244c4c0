import { AppError } from '../errors.ts';

/** A movement that would take a balance past 2^53-1 (wallet__move refuses it; JSON numbers stop being exact). */
export class BalanceLimitExceeded extends AppError {
  constructor() {
    super(
      422,
      'BALANCE_LIMIT_EXCEEDED',
      'Balance limit exceeded',
      `A wallet balance cannot exceed ${Number.MAX_SAFE_INTEGER} minor units.`,
    );
  }
}
