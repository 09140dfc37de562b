// A small inline SVG line of the last rates (no chart library, no request).

/** Rates drawn left (old) to right (new). */
export function Sparkline(
  props: { values: number[]; label: string; width?: number; height?: number },
) {
  const w = props.width ?? 180;
  const h = props.height ?? 36;
  const max = Math.max(1, ...props.values);
  const step = props.values.length > 1 ? w / (props.values.length - 1) : w;
  const points = props.values
    .map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`)
    .join(" ");
  return (
    <svg
      class="spark"
      viewBox={`0 0 ${w} ${h}`}
      width={w}
      height={h}
      role="img"
      aria-label={props.label}
    >
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}
