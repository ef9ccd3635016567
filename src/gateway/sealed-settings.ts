import type { Kek } from '../crypto/share-seal.js';
import type { SealedColumn } from '../db/reseal.js';
import type { GatewayStore } from './storage/gateway-store.js';

/** The gateway's sealed records: its settings (RSA key, session secret, node API key, dev scope id). */
export function settingAad(name: string): Uint8Array {
  return Buffer.from(`tandem/gateway/setting/v1/${name}`);
}

export const GATEWAY_SETTINGS_COLUMN: SealedColumn = {
  table: 'settings',
  idColumn: 'name',
  valueColumn: 'value',
  aadColumns: [],
  aad: (row) => settingAad(String(row.name)),
};

/** A secret kept sealed under the KEK; made by `create` on first start. */
export async function sealedSetting(store: GatewayStore, kek: Kek, name: string, create: () => Uint8Array | Promise<Uint8Array>): Promise<Uint8Array> {
  const kept = await openSetting(store, kek, name);
  if (kept) return kept;
  const fresh = await create();
  const sealed = await store.putSettingIfAbsent(name, kek.seal(fresh, settingAad(name)));
  fresh.fill(0);
  return openSealed(kek, name, sealed);
}

export async function openSetting(store: GatewayStore, kek: Kek, name: string): Promise<Uint8Array | undefined> {
  const sealed = await store.getSetting(name);
  return sealed && openSealed(kek, name, sealed);
}

function openSealed(kek: Kek, name: string, sealed: Uint8Array): Uint8Array {
  try {
    return kek.open(sealed, settingAad(name));
  } catch {
    throw new Error(`the gateway's ${name} was sealed under another key: every gateway copy on one database must share TANDEM_GATEWAY_KEK (or list the old one in TANDEM_GATEWAY_KEK_PREVIOUS while rotating)`);
  }
}
