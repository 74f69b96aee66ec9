//! Reading a picture of a handwritten digit the way MNIST was made: grey, white ink on
//! black, the digit scaled to fit a 20x20 box and centred by its centre of mass in 28x28.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use image::imageops::FilterType;
use image::{GrayImage, Luma};
use std::path::Path;

/// MNIST's image side, and the box its digits are scaled into.
const SIDE: u32 = 28;
const BOX: u32 = 20;
/// A pixel darker than this (on a 0..1 ink scale) is background.
const INK: f32 = 0.1;

/// Reads a PNG of one digit (any size, colour, grey or with transparency; dark on light or
/// light on dark) as a (1, 28, 28) tensor in [0, 1] shaped like MNIST's images: the ink made
/// white on black, cropped to the digit, scaled to fit 20x20 and centred by its centre of
/// mass. Reshape to (1, 784) for an MLP.
pub fn read_digit(path: impl AsRef<Path>, device: &Device) -> Result<Tensor> {
    let path = path.as_ref();
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::data(path.display(), format!("could not read the image: {e}"))
    };
    // The format comes from the bytes, so a PNG named .jpg or .dat still reads.
    let picture = image::io::Reader::open(path)
        .map_err(|e| unreadable(&e))?
        .with_guessed_format()
        .map_err(|e| unreadable(&e))?
        .decode()
        .map_err(|e| unreadable(&e))?;
    let ink = ink(&picture.to_luma_alpha8());
    let digit = mnist_layout(&ink).ok_or_else(|| {
        Error::data(
            path.display(),
            "the image is blank: no stroke stands out from the background",
        )
    })?;
    Tensor::from_vec(digit, &[1, SIDE as usize, SIDE as usize], device)
}

/// The ink of each pixel in [0, 1]: grey composited over white, inverted unless the
/// picture is mostly light (then it is already light ink on dark).
fn ink(picture: &image::GrayAlphaImage) -> GrayImage {
    let grey = |p: &image::LumaA<u8>| {
        let (value, alpha) = (p.0[0] as f32, p.0[1] as f32 / 255.0);
        value * alpha + 255.0 * (1.0 - alpha)
    };
    let mean = picture.pixels().map(grey).sum::<f32>()
        / (picture.width() * picture.height()).max(1) as f32;
    let dark_on_light = mean / 255.0 > 0.5;
    GrayImage::from_fn(picture.width(), picture.height(), |x, y| {
        let v = grey(picture.get_pixel(x, y));
        Luma([if dark_on_light { 255.0 - v } else { v } as u8])
    })
}

/// The digit cropped, fitted into 20x20 and centred by mass in 28x28, as values in [0, 1];
/// None when there is no ink.
fn mnist_layout(ink: &GrayImage) -> Option<Vec<f32>> {
    let strokes = ink
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0[0] as f32 / 255.0 > INK);
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, _) in strokes {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    if x0 > x1 {
        return None; // no stroke: the box never opened
    }
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    let crop = image::imageops::crop_imm(ink, x0, y0, w, h).to_image();
    let scale = BOX as f32 / w.max(h) as f32;
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).clamp(1, BOX),
        ((h as f32 * scale).round() as u32).clamp(1, BOX),
    );
    let small = image::imageops::resize(&crop, sw, sh, FilterType::Triangle);
    // Centre of mass of the scaled digit, then the offset that puts it at (14, 14).
    let (mut mass, mut cx, mut cy) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y, p) in small.enumerate_pixels() {
        let v = p.0[0] as f32;
        mass += v;
        cx += v * x as f32;
        cy += v * y as f32;
    }
    let mass = mass.max(1.0);
    let centre = SIDE as f32 / 2.0;
    let dx = (centre - cx / mass).round() as i64;
    let dy = (centre - cy / mass).round() as i64;
    let mut out = vec![0.0; (SIDE * SIDE) as usize];
    for (x, y, p) in small.enumerate_pixels() {
        let (tx, ty) = (x as i64 + dx, y as i64 + dy);
        if (0..SIDE as i64).contains(&tx) && (0..SIDE as i64).contains(&ty) {
            out[(ty * SIDE as i64 + tx) as usize] = p.0[0] as f32 / 255.0;
        }
    }
    Some(out)
}
