// Photos are made smaller on the phone before they are kept and sent: at most 2048 px on the
// long side, as JPEG, to spare the resident's data plan. A file the browser cannot decode
// (HEIC on some phones) is kept as it is: the server reads HEIC.

export const MAX_SIDE = 2048;

export async function shrink(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return { blob: file, width: null, height: null, name: file.name };
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.round(bitmap.width * scale);
  const height = Math.round(bitmap.height * scale);
  let blob;
  if (typeof OffscreenCanvas !== "undefined") {
    const canvas = new OffscreenCanvas(width, height);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
    blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.85 });
  } else {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
    blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  }
  bitmap.close();
  const name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
  return { blob, width, height, name };
}
