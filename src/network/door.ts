/**
 * @module network/door
 * Which listener a request came in through: the registry's public endpoint, or one of its
 * private endpoints (a listener bound to an address inside a virtual network). On a private
 * endpoint only the connection's approval and the virtual network's address space count; IP
 * rules and public network access never apply there.
 */
import { parseAddress, type IpRuleSet } from './ip-rules.js';

export type Door =
  | { kind: 'public' }
  | {
      kind: 'private';
      /** The private endpoint's resource id and name. */
      endpointId: string;
      endpointName: string;
      registryId: string;
      privateIp: string;
      /** The virtual network's address space: the only sources this door serves. */
      network: IpRuleSet;
      addressPrefixes: string[];
    };

export const PUBLIC_DOOR: Door = { kind: 'public' };

export interface ConnectionState {
  name: string;
  status: string;
}

export type PrivateVerdict =
  { pass: true; reason: string } | { pass: false; reason: string; message: string };

/** Stage 1 on a private endpoint: an approved connection and a source inside the network. */
export function evaluatePrivateDoor(
  door: Extract<Door, { kind: 'private' }>,
  connection: ConnectionState | undefined,
  source: string,
): PrivateVerdict {
  if (!connection) {
    return {
      pass: false,
      reason: `network: private endpoint ${door.endpointName} has no connection to this registry`,
      message: `client with IP '${source}' is not allowed access: private endpoint '${door.endpointName}' is not connected to this registry.`,
    };
  }
  if (connection.status !== 'Approved') {
    return {
      pass: false,
      reason: `network: private endpoint connection ${connection.name} is ${connection.status}`,
      message: `client with IP '${source}' is not allowed access: the private endpoint connection '${connection.name}' is ${connection.status}, not Approved. The registry owner approves it with 'breakwater network private-endpoint-connection approve'.`,
    };
  }
  const address = parseAddress(source);
  if (!address || !door.network.match(address)) {
    return {
      pass: false,
      reason: `network: ${source} is outside the virtual network of private endpoint ${door.endpointName}`,
      message: `client with IP '${source}' is not allowed access: it is outside the virtual network (${door.addressPrefixes.join(', ')}) of private endpoint '${door.endpointName}'.`,
    };
  }
  return {
    pass: true,
    reason: `network: private endpoint ${door.endpointName} (connection ${connection.name} Approved)`,
  };
}
