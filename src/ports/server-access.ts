/**
 * How to authenticate to a server the controller or the SDK calls over HTTP (a room's ClickHouse):
 * a user and password (basic auth), and the CA of an https:// server. Read from where the
 * topology names them (a file or a variable), held in memory, never printed.
 */
export interface ServerAccess {
  readonly auth?: { readonly user: string; readonly password: string };
  readonly ca?: Buffer | string;
}
