/**
 * Tandem wallet page: the unmodified 0xPass Passport SDK talking to Tandem's wallet
 * gateway, which serves it (same origin: http://localhost:9545 under `npm start`). Register a passkey, log in, sign a
 * message, and check the signature locally with viem.
 */
import { Network, Passport } from '@0xpass/passport';
import { WebauthnSigner } from '@0xpass/webauthn-signer';
import { hexToBytes, isHex, recoverMessageAddress, type Hex, type SignableMessage } from 'viem';

type WalletConfig = { scope_id: string; enclave_public_key: string };
type RpcError = { code?: number; message?: string; data?: unknown };
type RpcResponse<T> = { result?: T; error?: RpcError | null } | undefined;
type Step = 'setup' | 'register' | 'login' | 'sign';

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

const ui = {
  username: element<HTMLInputElement>('username'),
  register: element<HTMLButtonElement>('register'),
  login: element<HTMLButtonElement>('login'),
  message: element<HTMLTextAreaElement>('message'),
  sign: element<HTMLButtonElement>('sign'),
  address: element('address'),
  signature: element('signature'),
  recovered: element('recovered'),
  match: element('match'),
  status: element('status'),
  error: element('error'),
};

let passport: Passport | undefined;
let account: string | undefined;
let busy = false;

/** `#status` carries data-step and data-state (busy | done | error) for scripts and tests. */
function setStatus(step: Step, state: 'busy' | 'done' | 'error', text: string): void {
  ui.status.dataset.step = step;
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function refreshButtons(): void {
  const ready = passport !== undefined && !busy;
  const named = ui.username.value.trim() !== '';
  ui.register.disabled = !ready || !named;
  ui.login.disabled = !ready || !named;
  ui.sign.disabled = !ready || account === undefined;
}

/** A JSON-RPC error as a person reads it: the gateway's `error.message`. */
function rpcErrorText(error: RpcError): string {
  return error.message ?? JSON.stringify(error);
}

/** The SDK returns undefined when the request got no HTTP response at all. */
function unwrap<T>(what: string, response: RpcResponse<T>): T {
  if (response === undefined) throw new Error(`${what}: no response from the gateway`);
  if (response.error) throw new Error(rpcErrorText(response.error));
  if (response.result === undefined) throw new Error(`${what}: the response has neither result nor error`);
  return response.result;
}

async function run(step: Step, label: string, action: () => Promise<string>): Promise<void> {
  if (busy) return;
  busy = true;
  refreshButtons();
  ui.error.textContent = '';
  setStatus(step, 'busy', `${label}…`);
  try {
    setStatus(step, 'done', await action());
  } catch (e) {
    console.error(`${step} failed:`, e);
    ui.error.textContent = e instanceof Error ? e.message : String(e);
    setStatus(step, 'error', `${label} failed.`);
  } finally {
    busy = false;
    refreshButtons();
  }
}

function user(): { username: string; userDisplayName: string } {
  const username = ui.username.value.trim();
  return { username, userDisplayName: username };
}

function clearSignature(): void {
  for (const el of [ui.signature, ui.recovered, ui.match]) el.textContent = '';
  delete ui.match.dataset.match;
}

async function setup(): Promise<string> {
  const res = await fetch('config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`GET config.json: HTTP ${res.status}`);
  const config = (await res.json()) as WalletConfig;
  const p = new Passport({
    scopeId: config.scope_id,
    signer: new WebauthnSigner({ rpId: 'localhost', rpName: 'Tandem' }),
    // The gateway that served this page (Network.LOCAL, http://localhost:9545, under npm start).
    network: location.origin as Network,
    enclavePublicKey: config.enclave_public_key,
  });
  await p.setupEncryption();
  passport = p;
  return 'Ready. Choose a username, then register or log in.';
}

async function register(): Promise<string> {
  const p = passport!;
  const u = user();
  const res = await p.register(u);
  const accountId = res.result?.account_id;
  return `Registered ${u.username}${accountId ? ` (account ${accountId})` : ''}. Now log in.`;
}

async function login(): Promise<string> {
  const p = passport!;
  const u = user();
  account = undefined;
  ui.address.textContent = '';
  clearSignature();
  const [, fromSession] = await p.authenticate(u);
  // getAddresses() is typed string[] but resolves to the whole JSON-RPC response.
  const addresses = unwrap<string[]>('eth_requestAccounts', (await p.getAddresses()) as unknown as RpcResponse<string[]>);
  const first = addresses[0];
  if (typeof first !== 'string') throw new Error(`eth_requestAccounts returned no address: ${JSON.stringify(addresses)}`);
  if (first.toLowerCase() !== fromSession.toLowerCase()) {
    throw new Error(`eth_requestAccounts gave ${first} but the session's public key is ${fromSession}`);
  }
  account = first;
  ui.address.textContent = first;
  return `Logged in as ${u.username}.`;
}

/** personal_sign's convention (the gateway's too): 0x-hex is the bytes it spells, anything else is text. */
function signable(message: string): SignableMessage {
  return isHex(message, { strict: true }) ? { raw: hexToBytes(message) } : message;
}

async function sign(): Promise<string> {
  const p = passport!;
  const message = ui.message.value;
  clearSignature();
  const signature = unwrap('personal_sign', await p.signMessage(message));
  ui.signature.textContent = signature;
  const recovered = await recoverMessageAddress({ message: signable(message), signature: signature as Hex });
  ui.recovered.textContent = recovered;
  const matches = account !== undefined && recovered.toLowerCase() === account.toLowerCase();
  ui.match.dataset.match = String(matches);
  ui.match.textContent = matches ? 'addresses match' : 'addresses DO NOT match';
  return matches ? 'Signed; the signature recovers to your account.' : 'Signed, but the signature recovers to another address.';
}

ui.username.addEventListener('input', refreshButtons);
ui.register.addEventListener('click', () => void run('register', 'Registering', register));
ui.login.addEventListener('click', () => void run('login', 'Logging in', login));
ui.sign.addEventListener('click', () => void run('sign', 'Signing', sign));
void run('setup', 'Loading', setup);
