// A modal <dialog> opened with showModal(): Esc closes it, focus returns to the opener.
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

/** Props of {@link Dialog}. */
export interface DialogProps {
  open: boolean;
  onClose: () => void;
  labelledBy: string;
  children: ComponentChildren;
  class?: string;
}

/** A native modal dialog. */
export function Dialog(props: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) {
      opener.current = document.activeElement;
      dialog.showModal();
    } else if (!props.open && dialog.open) {
      dialog.close();
    }
  }, [props.open]);
  const closed = () => {
    props.onClose();
    const back = opener.current;
    if (back instanceof HTMLElement && back.isConnected) back.focus();
  };
  return (
    <dialog
      ref={ref}
      class={props.class}
      aria-labelledby={props.labelledBy}
      onClose={closed}
    >
      {props.open && props.children}
    </dialog>
  );
}
