// Behaviour shared by every page, with no inline script (the pages' CSP allows none).
// A form with data-confirm asks before it is sent (closing a class, erasing an account).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
