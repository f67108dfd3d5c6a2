using PiOrchestrator.Jpeg;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Capture;

/// <summary>Real libjpeg-turbo decoding, nothing mocked.</summary>
public class JpegCodecTests
{
    [Fact]
    public void A_whole_frame_decodes_and_yields_a_one_eighth_thumbnail()
    {
        var jpeg = TestJpegs.Make(7, 1600, 1200);
        var check = JpegCodec.Check(jpeg, out var thumbnail);
        Assert.True(check.Ok, check.Detail);
        Assert.Equal((1600, 1200), (check.Width, check.Height));
        Assert.NotNull(thumbnail);
        var thumbCheck = JpegCodec.Check(thumbnail, out _);
        Assert.True(thumbCheck.Ok);
        Assert.Equal((200, 150), (thumbCheck.Width, thumbCheck.Height));
    }

    [Fact]
    public void A_frame_cut_inside_the_scan_is_truncated_even_with_an_end_marker()
    {
        var jpeg = TestJpegs.Make(8);
        byte[] cut = [.. jpeg[..(jpeg.Length * 6 / 10)], 0xFF, 0xD9];
        Assert.Null(JpegValidator.CheckMarkers(cut));
        var check = JpegCodec.Check(cut, out var thumbnail);
        Assert.False(check.Ok);
        Assert.Equal(CaptureFailure.TruncatedJpeg, check.FailureReason);
        Assert.Null(thumbnail);
    }

    [Fact]
    public void Corrupt_scan_data_fails_the_decode()
    {
        var jpeg = TestJpegs.Make(9);
        var corrupt = (byte[])jpeg.Clone();
        // Overwrite part of the entropy-coded data with bytes that are not valid Huffman codes.
        for (var i = jpeg.Length / 2; i < jpeg.Length / 2 + 64; i++) corrupt[i] = 0xFF;
        corrupt[jpeg.Length / 2 + 64] = 0xD0;
        Assert.False(JpegCodec.Check(corrupt, out _).Ok);
    }

    [Theory]
    [InlineData(new byte[0], CaptureFailure.EmptyFrame)]
    [InlineData(new byte[] { 0x00, 0x01, 0xFF, 0xD9 }, CaptureFailure.NotAJpeg)]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10 }, CaptureFailure.TruncatedJpeg)]
    public void Marker_check_names_the_fault(byte[] frame, string reason) => Assert.Equal(reason, JpegValidator.CheckMarkers(frame));

    [Fact]
    public void Garbage_between_markers_is_not_a_jpeg()
    {
        byte[] garbage = [0xFF, 0xD8, 0xFF, .. new byte[500], 0xFF, 0xD9];
        var check = JpegCodec.Check(garbage, out _);
        Assert.False(check.Ok);
    }
}
