import Type, { type TSchema, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { ProtocolError } from './errors.js';
import type { PartyId } from '../core/ids.js';

/** Hex of exactly `bytes` bytes (lower or upper case). */
export const HexBytes = (bytes: number) => Type.String({ pattern: `^[0-9a-fA-F]{${bytes * 2}}$` });
export const HexAny = (maxBytes: number) => Type.String({ pattern: '^(?:[0-9a-fA-F]{2})*$', maxLength: maxBytes * 2 });
export const PartyIdSchema = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' });

/**
 * Compiles a schema into a parser for untrusted protocol input: anything that does not
 * match is a ProtocolError naming the sender, never a crash deeper in the engine.
 */
export function parser<S extends TSchema>(name: string, schema: S): (input: unknown, from?: PartyId) => Static<S> {
  const compiled = Compile(schema);
  return (input, from) => {
    if (!compiled.Check(input)) {
      const first = [...compiled.Errors(input)][0];
      // The path can hold a key the sender chose: keep it to plain characters, short.
      const where = first ? `${first.instancePath || '/'} ${first.message}`.replace(/[^A-Za-z0-9/_ .-]/g, '?').slice(0, 120) : 'invalid';
      throw new ProtocolError(`malformed ${name}: ${where}`, from);
    }
    return input as Static<S>;
  };
}
