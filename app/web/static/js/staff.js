// The inventory form: a file over the limit is refused here, in French, before it is sent
// (the server would refuse a body that large before the page could answer).
const form = document.querySelector("form[data-max-bytes]");
if (form) {
  const input = form.querySelector("input[type=file]");
  const limit = Number(form.dataset.maxBytes);
  form.addEventListener("submit", (event) => {
    const file = input && input.files && input.files[0];
    let message = form.querySelector(".field-error.client");
    if (file && file.size > limit) {
      event.preventDefault();
      if (!message) {
        message = document.createElement("p");
        message.className = "field-error client";
        message.id = "file-size-error";
        input.insertAdjacentElement("afterend", message);
      }
      message.textContent = form.dataset.tooLarge;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", message.id);
      input.focus();
    } else if (message) {
      message.remove();
    }
  });
}
