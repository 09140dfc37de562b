// Inline SVG icons (no icon font, no request), drawn by CSS (.icon): decorative only.
import type { ComponentChildren } from "preact";

function Svg(props: { children: ComponentChildren }) {
  return (
    <svg class="icon" viewBox="0 0 24 24" aria-hidden="true">
      {props.children}
    </svg>
  );
}

export function MenuIcon() {
  return (
    <Svg>
      <path d="M4 6h16M4 12h16M4 18h16" />
    </Svg>
  );
}

export function PeopleIcon() {
  return (
    <Svg>
      <circle cx="9" cy="8" r="3.5" />
      <path d="M2.5 20c.8-3.6 3.3-5.5 6.5-5.5s5.7 1.9 6.5 5.5M16 4.8a3.5 3.5 0 0 1 0 6.4M18.5 14.8c1.6.8 2.6 2.5 3 5.2" />
    </Svg>
  );
}

export function SendIcon() {
  return (
    <Svg>
      <path d="M4 12 20 4l-6 16-3-7z" />
    </Svg>
  );
}
