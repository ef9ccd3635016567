/**
 * The device party of the Tandem SDK: a device or app backend that holds a share of its
 * own keys (2-of-2 with a node, 2-of-3 with two nodes, ...). Node.js only for now: it runs
 * the protocol engines of src/protocols, which use node:crypto for hashing and randomness.
 * The typed client (../index.ts) and RelayConnection have no such dependency.
 */
export { DeviceParty, generateDeviceIdentity, type DevicePartyOptions } from './device-party.js';
export { MemoryShareStore, type DeviceShare, type DeviceShareStore } from './share-store.js';
export type { PortableIdentity as DeviceIdentity } from '../../crypto/portable-channel.js';
