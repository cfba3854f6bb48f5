// The identity a generate, refresh or CSTG success answer carries (UID2-SPEC §1.1, §1.2): what publishers
// store and clients refresh. Times are Unix milliseconds.
export interface IdentityBody {
  advertising_token: string;
  /** The wrapped refresh token: exactly 388 base64 characters (§2.5). */
  refresh_token: string;
  identity_expires: number;
  refresh_from: number;
  refresh_expires: number;
  /** Base64 of the 32-byte key the next refresh answer is encrypted under. */
  refresh_response_key: string;
}
