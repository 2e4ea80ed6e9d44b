using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>TorchSharp's native library loads from the build output (patched where libstdc++ is older) and
/// reproduces torch's CPU generator stream.</summary>
public class TorchSharpLoadsTests
{
    [Fact]
    public void Randn_after_manual_seed_0_matches_torch()
    {
        manual_seed(0);
        using var x = randn(5);
        var expected = new[] { 1.5410f, -0.2934f, -2.1788f, 0.5684f, -1.0845f };
        var actual = x.data<float>().ToArray();
        Assert.Equal(5, actual.Length);
        for (int i = 0; i < 5; i++) Assert.Equal(expected[i], actual[i], 4);
    }

    [Fact]
    public void Generator_stream_matches_diffusers_dummy_noise()
    {
        // spec §1.4: the first four values of torch.randn(4,3,8,8) after manual_seed(0).
        using var gen = new TorchSharp.torch.Generator(0);
        using var x = randn(new long[] { 4, 3, 8, 8 }, generator: gen);
        var v = x.data<float>().ToArray();
        var expected = new[] { -1.1258398f, -1.1523602f, -0.2505786f, -0.4338788f };
        for (int i = 0; i < 4; i++) Assert.InRange(v[i], expected[i] - 1e-6f, expected[i] + 1e-6f);
    }
}
