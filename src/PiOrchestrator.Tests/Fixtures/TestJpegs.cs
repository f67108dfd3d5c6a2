using PiOrchestrator.Jpeg;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>Real JPEGs made with libjpeg-turbo: each seed paints a different picture.</summary>
public static class TestJpegs
{
    public static byte[] Make(int seed, int width = 320, int height = 240)
    {
        var rgb = new byte[width * height * 3];
        var random = new Random(seed);
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            var i = (y * width + x) * 3;
            rgb[i] = (byte)(x * 255 / width ^ seed);
            rgb[i + 1] = (byte)(y * 255 / height + seed * 13);
            // Noise makes the file big enough that a cut lands inside the entropy-coded data.
            rgb[i + 2] = (byte)random.Next(256);
        }
        return JpegCodec.Encode(rgb, width, height, quality: 85);
    }

    /// <summary>
    /// A baseline 4:2:0 JPEG of the given dimensions and about <paramref name="targetBytes"/> long: a smooth picture
    /// with noise in enough 16x16 blocks to reach the size (the size grows linearly with the noisy share).
    /// </summary>
    public static byte[] MakeOfSize(int seed, int width, int height, int targetBytes)
    {
        var (headers, noisyPerPixel, smoothPerPixel) = Calibration.Value;
        var pixels = (double)width * height;
        var share = Math.Clamp(((targetBytes - headers) / pixels - smoothPerPixel) / (noisyPerPixel - smoothPerPixel), 0, 1);
        var jpeg = Paint(seed, width, height, share);
        // One correction: the size grows about linearly with the noisy share past the headers.
        if (share > 0 && Math.Abs(jpeg.Length - targetBytes) > targetBytes / 10)
            jpeg = Paint(seed, width, height, Math.Clamp(share * (targetBytes - headers) / Math.Max(1, jpeg.Length - headers), 0, 1));
        return jpeg;
    }

    private const int SizedQuality = 80;

    /// <summary>The tables and markers every frame carries, and the bytes a pixel costs in noisy and in smooth blocks.</summary>
    private static readonly Lazy<(int Headers, double Noisy, double Smooth)> Calibration = new(() =>
    {
        const int side = 256;
        var headers = Paint(1, 16, 16, 0).Length;
        return (headers, (Paint(1, side, side, 1).Length - headers) / (double)(side * side), (Paint(1, side, side, 0).Length - headers) / (double)(side * side));
    });

    private static byte[] Paint(int seed, int width, int height, double noisyShare)
    {
        var rgb = new byte[width * height * 3];
        var random = new Random(seed);
        var blocksX = (width + 15) / 16;
        var noisy = new bool[blocksX * ((height + 15) / 16)];
        var carry = random.NextDouble();
        for (var b = 0; b < noisy.Length; b++)
        {
            carry += noisyShare;
            if (carry >= 1) { noisy[b] = true; carry -= 1; }
        }
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            var i = (y * width + x) * 3;
            if (noisy[y / 16 * blocksX + x / 16])
            {
                rgb[i] = (byte)random.Next(256); rgb[i + 1] = (byte)random.Next(256); rgb[i + 2] = (byte)random.Next(256);
                continue;
            }
            // A gentle gradient on a colour of the seed's: next to nothing beside the noise.
            rgb[i] = (byte)(seed * 37 + x * 48 / width);
            rgb[i + 1] = (byte)(seed * 13 + y * 48 / height);
            rgb[i + 2] = (byte)(seed * 7 + (x + y) * 32 / (width + height));
        }
        return JpegCodec.Encode(rgb, width, height, SizedQuality);
    }

    /// <summary>
    /// A frame near the 5 MB a camera may send (Storage:MaxImageBytes, 5 MiB): 2560x1920, the largest size the agent
    /// accepts, of noise at quality 93, about 5.0 MB.
    /// </summary>
    public static byte[] MakeLarge(int seed)
    {
        const int width = 2560, height = 1920;
        var rgb = new byte[width * height * 3];
        new Random(seed).NextBytes(rgb);
        return JpegCodec.Encode(rgb, width, height, quality: 93);
    }

    /// <summary>A progressive JPEG (TurboJPEG's TJFLAG_PROGRESSIVE): the kind of frame an ESP32-CAM never sends.</summary>
    public static unsafe byte[] MakeProgressive(int seed, int width = 320, int height = 240)
    {
        var rgb = new byte[width * height * 3];
        new Random(seed).NextBytes(rgb);
        var handle = PiOrchestrator.Native.TurboJpeg.InitCompress();
        byte* output = null;
        nuint size = 0;
        try
        {
            fixed (byte* src = rgb)
                Assert.Equal(0, PiOrchestrator.Native.TurboJpeg.Compress2(handle, src, width, 0, height, PiOrchestrator.Native.TurboJpeg.TJPF_RGB,
                    &output, &size, PiOrchestrator.Native.TurboJpeg.TJSAMP_420, 80, TjflagProgressive));
            return new ReadOnlySpan<byte>(output, checked((int)size)).ToArray();
        }
        finally
        {
            if (output is not null) PiOrchestrator.Native.TurboJpeg.Free(output);
            PiOrchestrator.Native.TurboJpeg.Destroy(handle);
        }
    }

    private const int TjflagProgressive = 16384;

    /// <summary>The same bytes with the frame header (SOFn) declaring another size: a decode bomb's header on a small file.</summary>
    public static byte[] DeclaringSize(byte[] jpeg, int width, int height)
    {
        var copy = (byte[])jpeg.Clone();
        for (var i = 2; i + 9 < copy.Length;)
        {
            var marker = copy[i + 1];
            if (marker is 0xC0 or 0xC1 or 0xC2)
            {
                copy[i + 5] = (byte)(height >> 8); copy[i + 6] = (byte)height;
                copy[i + 7] = (byte)(width >> 8); copy[i + 8] = (byte)width;
                return copy;
            }
            i += 2 + ((copy[i + 2] << 8) | copy[i + 3]);
        }
        throw new ArgumentException("no frame header found", nameof(jpeg));
    }
}
