// The smallest engine: one layer, two sequences, a few decode steps with the
// hybrid kernel, each compared with the exact (`full`) kernel.
#include <hgc/jit.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
  try {
    hgc::Context context(HGC_TARGET_HOST);
    hgc::AttentionConfig config;
    config.qHeads = 8;
    config.kvHeads = 2;
    config.headDim = 64;
    config.kvDtype = HGC_F32;
    config.policy = "hgca";
    config.sink = 4;
    config.window = 64;
    config.budget = "1.0"; // every host token: equal to full
    hgc::Kernel hybrid = context.compile(config);
    hgc::AttentionConfig exactConfig = config;
    exactConfig.policy = "full";
    hgc::Kernel exact = context.compile(exactConfig);
    hgc::KVCache cache = context.createCache(config, /*layers=*/1, 16);

    std::mt19937 random(1);
    std::uniform_real_distribution<float> uniform(-1, 1);
    std::vector<int64_t> seqs = {0, 1};
    size_t row = size_t(config.kvHeads) * config.headDim;
    for (int64_t seq : seqs) {
      cache.addSequence(seq);
      std::vector<float> kv(2 * row * (200 + 50 * seq));
      for (float &x : kv)
        x = uniform(random);
      cache.append(seq, 0, 200 + 50 * seq, kv.data(),
                   kv.data() + kv.size() / 2);
    }
    std::vector<float> q(seqs.size() * config.qHeads * config.headDim),
        out(q.size()), ref(q.size());
    double worst = 0;
    for (int step = 0; step < 4; ++step) {
      for (int64_t seq : seqs) {
        std::vector<float> kv(2 * row);
        for (float &x : kv)
          x = uniform(random);
        cache.append(seq, 0, 1, kv.data(), kv.data() + row);
      }
      for (float &x : q)
        x = uniform(random);
      cache.decode(hybrid, 0, seqs, q.data(), out.data());
      cache.decode(exact, 0, seqs, q.data(), ref.data());
      for (size_t i = 0; i < q.size(); ++i)
        worst = std::fmax(worst, std::fabs(out[i] - ref[i]));
    }
    std::printf("jit-consumer: 4 steps, hybrid - full = %.3g\n", worst);
    return worst < 1e-5 ? 0 : 1;
  } catch (const hgc::Error &error) {
    std::fprintf(stderr, "jit-consumer: %s\n", error.what());
    return 1;
  }
}
