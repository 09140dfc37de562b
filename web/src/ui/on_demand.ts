// The views loaded when first shown, in one file (docs/web.md §10): the teacher console and the
// inspector, kept out of a student's first visit. One file, so the first visit loads the entry and
// a single chunk of what it shares with them.
export { ConsoleView } from "./console_view.tsx";
export { InspectorView } from "./inspector_view.tsx";
