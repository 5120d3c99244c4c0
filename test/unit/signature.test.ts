import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_TOLERANCE_SECONDS, signPayload, verifySignature } from '../../app/gateway/signature.ts';

const secret = 'whsec_test';
const body = '{"type":"charge.succeeded","data":{"id":"ch_1"}}';
const now = 1_800_000_000;
const hmac = (t: number | string, raw: string, key = secret) =>
  createHmac('sha256', key).update(`${t}.${raw}`).digest('hex');

describe('webhook signatures', () => {
  it('signs as t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> (as the gateway signs, docs/gateway-simulator.md)', () => {
    expect(signPayload(secret, body, now)).toBe(`t=${now},v1=${hmac(now, body)}`);
  });

  it('signs with the current time when none is given', () => {
    const before = Math.floor(Date.now() / 1000);
    const t = Number(/^t=(\d+),/.exec(signPayload(secret, body))?.[1]);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('verifies its own signature, of a string body or of the same bytes as a Buffer', () => {
    const header = signPayload(secret, body, now);
    expect(verifySignature(secret, body, header, now)).toBe(true);
    expect(verifySignature(secret, Buffer.from(body), header, now)).toBe(true);
  });

  it('verifies against the current time when none is given', () => {
    const current = Math.floor(Date.now() / 1000);
    expect(verifySignature(secret, body, signPayload(secret, body))).toBe(true);
    expect(
      verifySignature(secret, body, signPayload(secret, body, current - 2 * SIGNATURE_TOLERANCE_SECONDS)),
    ).toBe(false);
  });

  it('refuses another secret, another body, or a missing header', () => {
    const header = signPayload(secret, body, now);
    expect(verifySignature('whsec_other', body, header, now)).toBe(false);
    expect(verifySignature(secret, body.replace('ch_1', 'ch_2'), header, now)).toBe(false);
    expect(verifySignature(secret, body, undefined, now)).toBe(false);
    expect(verifySignature(secret, body, '', now)).toBe(false);
  });

  it('accepts a signature exactly the tolerance old or ahead, and refuses one a second past it', () => {
    const at = (t: number) => verifySignature(secret, body, signPayload(secret, body, t), now);
    expect(at(now - SIGNATURE_TOLERANCE_SECONDS)).toBe(true);
    expect(at(now + SIGNATURE_TOLERANCE_SECONDS)).toBe(true);
    expect(at(now - SIGNATURE_TOLERANCE_SECONDS - 1)).toBe(false);
    expect(at(now + SIGNATURE_TOLERANCE_SECONDS + 1)).toBe(false);
  });

  it('keeps the tolerance at 300 seconds', () => {
    expect(SIGNATURE_TOLERANCE_SECONDS).toBe(300);
  });

  it('reads the parts in any order, with spaces around them', () => {
    const v1 = hmac(now, body);
    expect(verifySignature(secret, body, ` v1 = ${v1} , t = ${now} `, now)).toBe(true);
  });

  it('refuses a timestamp that is not an integer, even when the HMAC was made over it', () => {
    for (const t of ['1800000000.5', 'abc', '']) {
      expect(verifySignature(secret, body, `t=${t},v1=${hmac(t, body)}`, now)).toBe(false);
    }
  });

  it('refuses a v1 that is not 64 lower-case hex digits, even when it decodes to the right HMAC', () => {
    const v1 = hmac(now, body);
    expect(verifySignature(secret, body, `t=${now},v1=${v1.toUpperCase()}`, now)).toBe(false);
    expect(verifySignature(secret, body, `t=${now},v1=${v1}00`, now)).toBe(false);
    expect(verifySignature(secret, body, `t=${now},v1=x${v1}`, now)).toBe(false);
    expect(verifySignature(secret, body, `t=${now}`, now)).toBe(false);
  });

  it('refuses every single-character change of a valid header (property)', () => {
    const header = signPayload(secret, body, now);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: header.length - 1 }),
        fc.constantFrom(...'0123456789abcdef'),
        (i, c) => {
          fc.pre(header[i] !== c);
          const changed = header.slice(0, i) + c + header.slice(i + 1);
          expect(verifySignature(secret, body, changed, now)).toBe(false);
        },
      ),
    );
  });
});
