// Injected by web/build.mjs: every free `Buffer` in the bundle (the SDK's
// publicKeyToEthereumAddress uses Node's Buffer) becomes the npm `buffer` polyfill.
export { Buffer } from 'buffer';
