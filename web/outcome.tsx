/** The result line under a form: what a change did (a polite status) or why it failed (an alert). */
export function Outcome({ said, error }: { said: string | null; error: string | null }) {
  return (
    <>
      <p role="status" aria-live="polite" class="said">
        {said ?? ''}
      </p>
      <ErrorLine error={error} />
    </>
  );
}

/** An error line read out when it appears; nothing when there is no error. */
export function ErrorLine({ error }: { error: string | null | undefined }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}
