/**
 * How a relay, node or gateway process tells the launcher that started it (processes.ts, over
 * the IPC channel it opens) which port it bound: with port 0 the system picks one, and the
 * launcher builds the rest of the cluster's configuration from it. A process started any other
 * way has no channel, and this does nothing.
 */
export interface ListeningMessage {
  tandem: 'listening';
  port: number;
}

export function reportListening(port: number): void {
  if (typeof process.send !== 'function' || !process.connected) return;
  const message: ListeningMessage = { tandem: 'listening', port };
  process.send(message);
  // The channel must not keep the process alive: its servers and signal handlers decide that.
  process.channel?.unref();
}

export function isListeningMessage(m: unknown): m is ListeningMessage {
  return typeof m === 'object' && m !== null && (m as ListeningMessage).tandem === 'listening' && Number.isInteger((m as ListeningMessage).port);
}
