// One form field: its label, its input (in a row with a button when it has one), a standing hint
// and the error said next to it, the hint and the error tied to the input by ids so a screen
// reader reads them with it (docs/web.md §7.1: every control has a label, form errors are tied to
// their field).
import type { ComponentChildren, Ref, TargetedInputEvent } from "preact";

/** The input's own attributes, as the app's fields set them. */
export type InputAttributes =
  & {
    ref?: Ref<HTMLInputElement>;
    name?: string;
    autocomplete?: string;
    autocapitalize?: "none";
    spellcheck?: boolean;
    required?: boolean;
    maxLength?: number;
    placeholder?: string;
    value: string;
    onInput: (e: TargetedInputEvent<HTMLInputElement>) => void;
  }
  // As Preact types an input's ARIA roles: a password has no list of suggestions.
  & ({ type: "password"; list?: undefined } | { type?: undefined; list: string } | {
    type?: undefined;
    list?: undefined;
  });

/** An error said next to the fields it is about, announced at once. */
export function FieldError(props: { id: string; children: ComponentChildren }) {
  return <p id={props.id} class="error" role="alert">{props.children}</p>;
}

/** A labelled input; rendered as siblings in its form, so the form's layout styles them. */
export function Field(props: {
  /** The input's id, which the label points at. */
  id: string;
  label: string;
  /** The input's own attributes (ref, name, value, onInput...), rendered in this order. */
  input: InputAttributes;
  /** The value is refused; by default, while this field's own error is shown. */
  invalid?: boolean;
  /** A button beside the input: the two then sit in a `div.row`. */
  action?: ComponentChildren;
  /** A standing hint under the input, read with it. */
  hint?: { id: string; text: string };
  /** What belongs to the field without being read with it (its datalist), before the error. */
  children?: ComponentChildren;
  /** The field's own error, said under it. */
  error?: { id: string; text: string };
  /** Ids of other texts the input is described by: an error its form says once for all fields. */
  describedBy?: string;
}) {
  const { id, hint, error } = props;
  const invalid = props.invalid ?? error !== undefined;
  const describedBy = [hint?.id, error?.id, props.describedBy].filter((d) => d).join(" ");
  const input = (
    <input
      id={id}
      {...props.input}
      aria-invalid={invalid ? "true" : undefined}
      aria-describedby={describedBy || undefined}
    />
  );
  return (
    <>
      <label for={id}>{props.label}</label>
      {props.action === undefined ? input : (
        <div class="row">
          {input}
          {props.action}
        </div>
      )}
      {hint && <p id={hint.id} class="hint">{hint.text}</p>}
      {props.children}
      {error && <FieldError id={error.id}>{error.text}</FieldError>}
    </>
  );
}
