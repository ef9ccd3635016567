/** The key families a Tandem key belongs to, as the API names them in its paths. */
export type KeyFamily = 'bip340' | 'ed25519' | 'ecdsa';
export const KEY_FAMILIES: readonly KeyFamily[] = ['bip340', 'ed25519', 'ecdsa'];
