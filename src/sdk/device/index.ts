/**
 * The device party of the Tandem SDK: a device or app backend that holds a share of its
 * own keys (2-of-2 with a node, 2-of-3 with two nodes, ...), in Node.js or in a browser.
 * It runs the protocol engines of src/protocols, which take hashing, secp256k1 scalar
 * multiplication and base64 from '#protocols/platform' (package.json "imports"): OpenSSL and
 * libsecp256k1 under Node, @noble/hashes and @noble/curves in a bundle built for the
 * browser condition (esbuild `platform: 'browser'`, webpack, Vite), with no Node built-ins.
 * Randomness is WebCrypto's getRandomValues on both. A bundler resolves that import to the
 * compiled dist/ file, so build (tsc) before bundling; test/integration/device-party-browser
 * shows a complete esbuild setup.
 */
export { DeviceParty, generateDeviceIdentity, type DevicePartyOptions } from './device-party.js';
export { MemoryShareStore, type DeviceShare, type DeviceShareStore } from './share-store.js';
export { PeerBannedError, type BanRecord } from '../../ceremony/bans.js';
export type { PortableIdentity as DeviceIdentity } from '../../crypto/portable-channel.js';
