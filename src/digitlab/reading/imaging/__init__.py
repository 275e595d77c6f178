"""Real-world images -> MNIST-style 28x28 inputs, in three steps, one module each:

    decode.py   bytes -> image        (read_header, decode_opened, bytes_to_image)
    ink.py      image -> ink          (ink_map, find_ink)
    mnist.py    ink -> 28x28          (image_to_mnist, bytes_to_mnist, digit_to_mnist)


MNIST digits are white on black, the digit's bounding box scaled to fit 20x20 with its aspect ratio
kept, placed in 28x28 so that its centre of mass is at the centre, drawn with a pen about a tenth of
the digit's height wide. Photos and canvas drawings are none of that: any size, off-centre, thick or
thin pen, dark ink on light paper or the reverse, colour, alpha, JPEG noise. ``image_to_mnist`` brings them
to the same form, step by step, so the model sees what it was trained on.

It works at the resolution the answer needs, since the answer is 20x20: a JPEG is decoded small
(draft mode), the ink is found on the image reduced to at most ``WORK_SIDE`` pixels, and the digit is
then cut from the best resolution at hand, at about ``DIGIT_SIDE`` pixels. A phone photo costs tens of
milliseconds, not seconds, and a canvas drawing about a millisecond.
"""

from digitlab.reading.imaging.decode import (
    CANVAS,
    DRAFT_SIDE,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    ImageError,
    Opened,
    bytes_to_image,
    decode_opened,
    mnist_ready,
    read_header,
)
from digitlab.reading.imaging.ink import InkMap, NoDigitFound, ink_map
from digitlab.reading.imaging.mnist import (
    STROKE_FRACTION,
    Prepared,
    bytes_to_mnist,
    digit_to_mnist,
    image_to_mnist,
    naive_mnist,
    stroke_width,
)

__all__ = ["CANVAS", "DRAFT_SIDE", "STROKE_FRACTION", "MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "ImageError", "InkMap",
           "NoDigitFound", "Opened", "Prepared", "bytes_to_image", "bytes_to_mnist", "decode_opened", "digit_to_mnist",
           "image_to_mnist", "ink_map", "mnist_ready", "naive_mnist", "read_header", "stroke_width"]
