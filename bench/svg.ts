/**
 * A small SVG line plot of capacity ramps: calls (x) against added latency
 * p99 in ms (y), one polyline and labelled points per series, the 5 ms bound
 * drawn across. No dependencies; pure (the test checks its output).
 */
export interface Series {
  name: string;
  color: string;
  points: Array<{ calls: number; addedP99Ms: number }>;
}

const W = 640;
const H = 400;
const M = { left: 60, right: 20, top: 30, bottom: 50 };

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

export function rampSvg(title: string, series: Series[], boundMs = 5): string {
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(100, ...all.map((p) => p.calls)) * 1.05;
  const maxY = Math.max(boundMs * 1.5, ...all.map((p) => p.addedP99Ms)) * 1.1;
  const x = (calls: number) => M.left + (calls / maxX) * (W - M.left - M.right);
  const y = (ms: number) => H - M.bottom - (ms / maxY) * (H - M.top - M.bottom);
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">concurrent calls</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">added latency p99 (ms)</text>`,
    `<line x1="${M.left}" y1="${f(y(boundMs))}" x2="${W - M.right}" y2="${f(y(boundMs))}" stroke="grey" stroke-dasharray="4 4"/>`,
    `<text x="${W - M.right - 4}" y="${f(y(boundMs) - 4)}" text-anchor="end" fill="grey">${boundMs} ms bound</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const vx = (maxX / 4) * i;
    const vy = (maxY / 4) * i;
    parts.push(`<text x="${f(x(vx))}" y="${H - M.bottom + 16}" text-anchor="middle">${Math.round(vx)}</text>`);
    parts.push(`<text x="${M.left - 6}" y="${f(y(vy) + 4)}" text-anchor="end">${vy.toFixed(1)}</text>`);
  }
  series.forEach((s, k) => {
    const pts = s.points.map((p) => `${f(x(p.calls))},${f(y(Math.min(p.addedP99Ms, maxY)))}`).join(' ');
    parts.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    if (s.points.length > 1) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"/>`);
    for (const p of s.points) parts.push(`<circle cx="${f(x(p.calls))}" cy="${f(y(Math.min(p.addedP99Ms, maxY)))}" r="3" fill="${s.color}"/>`);
    parts.push(`<text x="${W - M.right - 120}" y="${M.top + 16 + k * 16}" fill="${s.color}">${escapeXml(s.name)}</text>`);
    parts.push('</g>');
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
