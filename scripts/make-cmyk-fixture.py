# Makes test/fixtures/cmyk.jpg (an Adobe CMYK JPEG as Photoshop and PIL write them, which no npm encoder writes)
# and test/fixtures/cmyk.rgb, PIL's Image.open(...).convert('RGB') of it as raw bytes: the reference the
# decoder test compares against. Needs python3-pil; run once, the outputs are committed.
import math
from PIL import Image
w, h = 61, 47
im = Image.new('RGB', (w, h))
im.putdata([(int(127 + 120 * math.sin(x / 7)), int(255 * y / h), int((x * y) % 256)) for y in range(h) for x in range(w)])
im.convert('CMYK').save('test/fixtures/cmyk.jpg', quality=90)
open('test/fixtures/cmyk.rgb', 'wb').write(Image.open('test/fixtures/cmyk.jpg').convert('RGB').tobytes())
