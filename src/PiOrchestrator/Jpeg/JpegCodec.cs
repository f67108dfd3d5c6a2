using System.Buffers;
using System.Runtime.InteropServices;
using PiOrchestrator.Native;

namespace PiOrchestrator.Jpeg;

/// <summary>What a full entropy decode of a frame found.</summary>
public readonly record struct JpegCheck(bool Ok, int Width, int Height, string? FailureReason, string? Detail);

/// <summary>
/// libjpeg-turbo through TurboJPEG 2.1: decode checks, 1/8 thumbnails and encoding (demo and test cameras).
/// Handles are made per call: tjInit* is cheap and a handle must not be shared between threads.
/// </summary>
public static unsafe class JpegCodec
{
    /// <summary>The size limit when the caller names none (thumbnails, tests): JPEG's own 16-bit field, in practice.</summary>
    private const int MaxDimension = 16384;

    public static bool TryLoadLibrary(out string error) =>
        NativeLibraries.TryLoad(TurboJpeg.Library, TurboJpeg.DebianPackage, out error);

    /// <summary>
    /// Parses the header and decodes the whole entropy-coded stream at 1/8 scale (every Huffman code is still read,
    /// so truncation and corruption surface as warnings), returning the thumbnail as a by-product.
    /// A warning is a failure: a truncated JPEG makes tjDecompress2 return -1 with TJERR_WARNING.
    /// </summary>
    public static JpegCheck Check(ReadOnlySpan<byte> jpeg, out byte[]? thumbnail) => Check(jpeg, MaxDimension, MaxDimension, out thumbnail);

    /// <summary>As <see cref="Check(ReadOnlySpan{byte}, out byte[])"/>, refusing before any decode a frame that is not baseline or declares more than maxWidth x maxHeight.</summary>
    public static JpegCheck Check(ReadOnlySpan<byte> jpeg, int maxWidth, int maxHeight, out byte[]? thumbnail)
    {
        thumbnail = null;
        var header = JpegValidator.CheckFrameHeader(jpeg, maxWidth, maxHeight);
        if (!header.Ok) return new JpegCheck(false, header.Width, header.Height, header.FailureReason, header.Detail);
        var handle = TurboJpeg.InitDecompress();
        if (handle == 0) return new JpegCheck(false, 0, 0, CaptureFailure.NotAJpeg, "tjInitDecompress failed");
        try
        {
            fixed (byte* src = jpeg)
            {
                if (TurboJpeg.DecompressHeader3(handle, src, (nuint)jpeg.Length, out var width, out var height, out _, out _) != 0)
                    return new JpegCheck(false, 0, 0, CaptureFailure.NotAJpeg, ErrorOf(handle));
                if (width != header.Width || height != header.Height)
                    return new JpegCheck(false, width, height, CaptureFailure.CorruptJpeg, $"two frame headers ({header.Width}x{header.Height}, {width}x{height})");
                var tw = (width + 7) / 8;
                var th = (height + 7) / 8;
                var pixels = ArrayPool<byte>.Shared.Rent(tw * th * 3);
                try
                {
                    fixed (byte* dst = pixels)
                    {
                        if (TurboJpeg.Decompress2(handle, src, (nuint)jpeg.Length, dst, tw, 0, th, TurboJpeg.TJPF_RGB,
                                TurboJpeg.TJFLAG_STOPONWARNING | TurboJpeg.TJFLAG_LIMITSCANS | TurboJpeg.TJFLAG_FASTDCT) != 0)
                        {
                            var warning = TurboJpeg.GetErrorCode(handle) == TurboJpeg.TJERR_WARNING;
                            var detail = ErrorOf(handle);
                            var reason = warning && detail.Contains("Premature end", StringComparison.OrdinalIgnoreCase)
                                ? CaptureFailure.TruncatedJpeg
                                : CaptureFailure.CorruptJpeg;
                            return new JpegCheck(false, width, height, reason, detail);
                        }
                        thumbnail = Encode(new ReadOnlySpan<byte>(dst, tw * th * 3), tw, th, quality: 75);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(pixels);
                }
                return new JpegCheck(true, width, height, null, null);
            }
        }
        finally
        {
            TurboJpeg.Destroy(handle);
        }
    }

    /// <summary>Encodes packed RGB pixels as a 4:2:0 JPEG.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> rgb, int width, int height, int quality)
    {
        if (rgb.Length < width * height * 3) throw new ArgumentException("pixel buffer is smaller than width*height*3", nameof(rgb));
        var handle = TurboJpeg.InitCompress();
        if (handle == 0) throw new InvalidOperationException("tjInitCompress failed");
        byte* output = null;
        nuint size = 0;
        try
        {
            fixed (byte* src = rgb)
            {
                if (TurboJpeg.Compress2(handle, src, width, 0, height, TurboJpeg.TJPF_RGB, &output, &size, TurboJpeg.TJSAMP_420, quality, TurboJpeg.TJFLAG_FASTDCT) != 0)
                    throw new InvalidOperationException($"tjCompress2 failed: {ErrorOf(handle)}");
            }
            return new ReadOnlySpan<byte>(output, checked((int)size)).ToArray();
        }
        finally
        {
            if (output is not null) TurboJpeg.Free(output);
            TurboJpeg.Destroy(handle);
        }
    }

    private static string ErrorOf(nint handle) => Marshal.PtrToStringUTF8(TurboJpeg.GetErrorStr2(handle)) ?? "unknown TurboJPEG error";
}
