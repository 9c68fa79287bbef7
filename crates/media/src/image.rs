//! Raw pictures: 8-bit I420 (planar Y'CbCr 4:2:0, what VP8 encodes and
//! decodes, RFC 6386 §2) and packed RGB, with the conversion between them
//! in ITU-R BT.601 studio range (Y' 16..=235, Cb/Cr 16..=240), the matrix
//! VP8 streams use.

use thiserror::Error;

/// The largest width or height of a picture: VP8's 14-bit size fields
/// (RFC 6386 §9.1).
pub const MAX_DIMENSION: u32 = 16_383;

/// Why a picture cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    /// A width or height of 0 or over [`MAX_DIMENSION`].
    #[error("picture size {width}x{height} out of range (1..={MAX_DIMENSION})")]
    Size {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// A plane whose length does not match the size.
    #[error("{plane} plane has {got} bytes, expected {expected}")]
    PlaneLength {
        /// `Y`, `U`, `V` or `RGB`.
        plane: &'static str,
        /// Its length.
        got: usize,
        /// The length the size implies.
        expected: usize,
    },
}

fn check_size(width: u32, height: u32) -> Result<(), ImageError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(ImageError::Size { width, height });
    }
    Ok(())
}

/// A colour as BT.601 studio-range Y', Cb, Cr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuv {
    /// Luma, 16..=235.
    pub y: u8,
    /// Blue-difference chroma, 16..=240 (128 for grey).
    pub u: u8,
    /// Red-difference chroma, 16..=240 (128 for grey).
    pub v: u8,
}

fn clamp_u8(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

impl Yuv {
    /// The studio-range Y'CbCr of full-range RGB (BT.601, 8-bit integer
    /// approximation).
    pub fn from_rgb([r, g, b]: [u8; 3]) -> Yuv {
        let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
        Yuv {
            y: clamp_u8(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16),
            u: clamp_u8(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128),
            v: clamp_u8(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128),
        }
    }

    /// Full-range RGB of this colour (the inverse of [`Yuv::from_rgb`],
    /// clamped).
    pub fn to_rgb(self) -> [u8; 3] {
        let c = i32::from(self.y) - 16;
        let d = i32::from(self.u) - 128;
        let e = i32::from(self.v) - 128;
        [
            clamp_u8((298 * c + 409 * e + 128) >> 8),
            clamp_u8((298 * c - 100 * d - 208 * e + 128) >> 8),
            clamp_u8((298 * c + 516 * d + 128) >> 8),
        ]
    }
}

/// An 8-bit I420 picture: a full-size Y' plane, then Cb and Cr planes of
/// half the width and height (rounded up), each row packed (the stride is
/// the plane's width).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Image {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl I420Image {
    /// A picture of one colour.
    pub fn filled(width: u32, height: u32, colour: Yuv) -> Result<I420Image, ImageError> {
        check_size(width, height)?;
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        Ok(I420Image {
            width,
            height,
            y: vec![colour.y; w * h],
            u: vec![colour.u; cw * ch],
            v: vec![colour.v; cw * ch],
        })
    }

    /// A picture from its three packed planes.
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<I420Image, ImageError> {
        check_size(width, height)?;
        let (w, h) = (width as usize, height as usize);
        let chroma = w.div_ceil(2) * h.div_ceil(2);
        for (plane, got, expected) in [
            ("Y", y.len(), w * h),
            ("U", u.len(), chroma),
            ("V", v.len(), chroma),
        ] {
            if got != expected {
                return Err(ImageError::PlaneLength {
                    plane,
                    got,
                    expected,
                });
            }
        }
        Ok(I420Image {
            width,
            height,
            y,
            u,
            v,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The width of the chroma planes (half, rounded up).
    pub fn chroma_width(&self) -> u32 {
        self.width.div_ceil(2)
    }

    /// The Y' plane, `width` bytes a row.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// The Cb plane, [`I420Image::chroma_width`] bytes a row.
    pub fn u(&self) -> &[u8] {
        &self.u
    }

    /// The Cr plane, [`I420Image::chroma_width`] bytes a row.
    pub fn v(&self) -> &[u8] {
        &self.v
    }

    /// The colour at (`x`, `y`) (its chroma shared by a 2x2 block), or
    /// `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Yuv> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let c = (y / 2) as usize * self.chroma_width() as usize + (x / 2) as usize;
        Some(Yuv {
            y: self.y[y as usize * self.width as usize + x as usize],
            u: self.u[c],
            v: self.v[c],
        })
    }

    /// Paints the rectangle at (`x`, `y`) of `w`x`h` pixels (clipped to the
    /// picture). Chroma is painted for every 2x2 block the rectangle
    /// touches, so a rectangle on even coordinates is exact.
    pub fn fill_rect(&mut self, x: u32, y: u32, w: u32, h: u32, colour: Yuv) {
        let x1 = x.saturating_add(w).min(self.width);
        let y1 = y.saturating_add(h).min(self.height);
        if x >= x1 || y >= y1 {
            return;
        }
        let stride = self.width as usize;
        for row in y as usize..y1 as usize {
            self.y[row * stride + x as usize..row * stride + x1 as usize].fill(colour.y);
        }
        let cstride = self.chroma_width() as usize;
        let (cx0, cx1) = ((x / 2) as usize, x1.div_ceil(2) as usize);
        for row in (y / 2) as usize..y1.div_ceil(2) as usize {
            let line = row * cstride;
            self.u[line + cx0..line + cx1].fill(colour.u);
            self.v[line + cx0..line + cx1].fill(colour.v);
        }
    }

    /// The picture as full-range RGB (BT.601; each 2x2 block shares its
    /// chroma).
    pub fn to_rgb(&self) -> RgbImage {
        let (w, h) = (self.width as usize, self.height as usize);
        let cw = self.chroma_width() as usize;
        let mut data = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            let luma = &self.y[row * w..(row + 1) * w];
            let crow = (row / 2) * cw;
            for (col, &y) in luma.iter().enumerate() {
                let c = crow + col / 2;
                let rgb = Yuv {
                    y,
                    u: self.u[c],
                    v: self.v[c],
                }
                .to_rgb();
                data.extend_from_slice(&rgb);
            }
        }
        RgbImage {
            width: self.width,
            height: self.height,
            data,
        }
    }
}

/// A packed 8-bit RGB picture, rows top to bottom, 3 bytes a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl RgbImage {
    /// A picture from its packed pixels (`width * height * 3` bytes).
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<RgbImage, ImageError> {
        check_size(width, height)?;
        let expected = width as usize * height as usize * 3;
        if data.len() != expected {
            return Err(ImageError::PlaneLength {
                plane: "RGB",
                got: data.len(),
                expected,
            });
        }
        Ok(RgbImage {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The packed pixels.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// One row's pixels, or `None` past the last row.
    pub fn row(&self, y: u32) -> Option<&[u8]> {
        let stride = self.width as usize * 3;
        let start = (y as usize).checked_mul(stride)?;
        self.data.get(start..start + stride)
    }

    /// The colour at (`x`, `y`), or `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width {
            return None;
        }
        let row = self.row(y)?;
        let i = x as usize * 3;
        Some([row[i], row[i + 1], row[i + 2]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_to_yuv_and_back_stays_within_two_levels() {
        for rgb in [
            [0, 0, 0],
            [255, 255, 255],
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 0],
            [12, 200, 99],
        ] {
            let back = Yuv::from_rgb(rgb).to_rgb();
            for c in 0..3 {
                assert!(
                    back[c].abs_diff(rgb[c]) <= 2,
                    "{rgb:?} came back as {back:?}"
                );
            }
        }
    }

    #[test]
    fn white_and_black_are_studio_range() {
        assert_eq!(
            Yuv::from_rgb([255, 255, 255]),
            Yuv {
                y: 235,
                u: 128,
                v: 128
            }
        );
        assert_eq!(
            Yuv::from_rgb([0, 0, 0]),
            Yuv {
                y: 16,
                u: 128,
                v: 128
            }
        );
    }

    #[test]
    fn an_odd_sized_picture_has_rounded_up_chroma() {
        let img = I420Image::filled(5, 3, Yuv::from_rgb([1, 2, 3])).expect("size");
        assert_eq!((img.y().len(), img.u().len(), img.v().len()), (15, 6, 6));
        assert_eq!(img.to_rgb().data().len(), 45);
    }

    #[test]
    fn a_filled_rectangle_is_clipped_to_the_picture() {
        let red = Yuv::from_rgb([255, 0, 0]);
        let mut img = I420Image::filled(8, 8, Yuv::from_rgb([0, 0, 0])).expect("size");
        img.fill_rect(6, 6, 100, 100, red);
        assert_eq!(img.pixel(7, 7), Some(red));
        assert_ne!(img.pixel(5, 5), Some(red));
        assert_eq!(img.pixel(8, 0), None);
    }

    #[test]
    fn planes_of_the_wrong_length_are_refused() {
        let err = I420Image::from_planes(4, 4, vec![0; 16], vec![0; 4], vec![0; 3]).unwrap_err();
        assert_eq!(
            err,
            ImageError::PlaneLength {
                plane: "V",
                got: 3,
                expected: 4
            }
        );
        assert!(matches!(
            I420Image::filled(0, 4, Yuv::from_rgb([0; 3])),
            Err(ImageError::Size { .. })
        ));
        assert!(RgbImage::new(2, 2, vec![0; 11]).is_err());
    }
}
