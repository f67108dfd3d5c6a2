using PiOrchestrator.Capture;

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
}
