/** An error said in words where it happened, announced to screen readers; nothing without one. */
export function ErrorAlert({ text }: { text: string | null | undefined }) {
  return text ? (
    <p class="error" role="alert">
      {text}
    </p>
  ) : null;
}
