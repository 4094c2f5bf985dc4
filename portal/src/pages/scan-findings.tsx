/**
 * What the vulnerability scanner found in one manifest (`scanResults`, docs/scanner.md): the
 * severity counts as a one-line verdict, and the findings table (advisory with its aliases,
 * package, installed and fixed version, severity, CVSS score) worst first.
 */
import { formatTime, SEVERITIES, type ScanResult } from '../api.js';

/** "1 Critical, 2 High", "No known vulnerabilities", or why the scan did not run. */
export function scanVerdict(result: ScanResult | undefined): string {
  if (!result) return 'Not scanned';
  if (result.status === 'Queued') return 'Scan queued…';
  if (result.status === 'Failed') return `Scan failed: ${result.reason ?? 'no reason given'}`;
  if (result.summary.total === 0) return 'No known vulnerabilities';
  return SEVERITIES.filter((s) => result.summary[s] > 0)
    .map((s) => `${result.summary[s]} ${s}`)
    .join(', ');
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** The worst severity found, for the verdict's colour. */
export function worstSeverity(result: ScanResult | undefined): string | undefined {
  if (result?.status !== 'Succeeded') return undefined;
  return SEVERITIES.find((s) => result.summary[s] > 0);
}

export function Findings({ result }: { result: ScanResult }) {
  const rank = (s: string) => SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);
  const findings = [...result.findings].sort(
    (a, b) => rank(a.severity) - rank(b.severity) || a.id.localeCompare(b.id),
  );
  const os = result.os ? `${result.os.id} ${result.os.versionId ?? ''}`.trim() : 'unknown OS';
  return (
    <section class="findings" aria-label={`Findings for ${result.digest}`}>
      <p class="hint">
        Scanned {formatTime(result.scannedAt)} ({result.trigger}): {os},{' '}
        {plural(result.packageCount ?? 0, 'package')}, {plural(result.summary.total, 'finding')}.
      </p>
      {findings.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Vulnerability</th>
              <th scope="col">Package</th>
              <th scope="col">Installed</th>
              <th scope="col">Fixed in</th>
              <th scope="col">Severity</th>
              <th scope="col">CVSS</th>
            </tr>
          </thead>
          <tbody>
            {findings.map((f) => (
              <tr key={`${f.id}/${f.package.ecosystem}/${f.package.name}`}>
                <td>
                  <strong>{f.id}</strong>
                  {f.aliases.length > 0 && <div class="hint">{f.aliases.join(', ')}</div>}
                  {f.summary && <div class="hint">{f.summary}</div>}
                </td>
                <td>
                  {f.package.name} <span class="hint">({f.package.ecosystem})</span>
                </td>
                <td>
                  <code>{f.package.installedVersion}</code>
                </td>
                <td>{f.package.fixedVersion ? <code>{f.package.fixedVersion}</code> : 'no fix'}</td>
                <td class={`severity severity-${f.severity.toLowerCase()}`}>{f.severity}</td>
                <td>{f.cvssScore?.toFixed(1) ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
