/**
 * What `ttma gateway` says at start about cloudflared's ingress rules (DESIGN 7, FAQ-04).
 * `ttma install` writes them to `<dir>/cloudflared/config.yml` (renderCloudflaredConfig) beside
 * the gateway's code in `<dir>/gateway`: a gateway running from there names that file rather than
 * asking for the rules to be put in again. It does not read the file: under its unit the directory
 * is the installer's (0700) and may be hidden (ProtectHome=tmpfs), so only the layout is checked.
 * Anywhere else (a checkout, a bundle unpacked by hand) it prints the rules to put in.
 */
import { statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BUNDLE_MANIFEST_PATH } from '../installer/bundleManifest.js';
import { cloudflaredIngress } from './tunnelIngress.js';

/** Where the installer put the rules, when `codeRoot` is an installed gateway's code; null when it cannot tell. */
export function installedIngressFile(codeRoot: string): string | null {
  if (basename(codeRoot) !== 'gateway' || !present(join(codeRoot, BUNDLE_MANIFEST_PATH))) return null;
  const file = join(dirname(codeRoot), 'cloudflared', 'config.yml');
  return present(file) ? file : null;
}

/** The lines for stderr: where the rules already are, or the rules themselves under their header. */
export function ingressNotice(codeRoot: string, publicHost: string, tunnelPort: number, bindHost?: string): string {
  const file = installedIngressFile(codeRoot);
  if (file !== null) return `# cloudflared ingress rules (only the public paths reach the gateway): already in ${file}, written by ttma install\n`;
  return `# put these ingress rules in your cloudflared config (only the public paths reach the gateway):\n${cloudflaredIngress(publicHost, tunnelPort, bindHost)}`;
}

/** There, or there but not ours to look into (EACCES: the installer's 0700 directory). */
function present(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES';
  }
}
