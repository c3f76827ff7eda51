//===- Numa.cpp - NUMA nodes for host pages -------------------------------===//

#include "Numa.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/syscall.h>
#include <unistd.h>

using namespace hgc::rt;

namespace {
constexpr int kMpolBind = 2;       // MPOL_BIND
constexpr unsigned kMpolFNode = 1; // MPOL_F_NODE
constexpr unsigned kMpolFAddr = 2; // MPOL_F_ADDR
constexpr unsigned long kMaxNodes = 1024;
constexpr unsigned long kBitsPerWord = 8 * sizeof(unsigned long);

bool parseNumber(const std::string &text, size_t &pos, int &value) {
  size_t start = pos;
  value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    value = value * 10 + (text[pos++] - '0');
    if (value >= int(kMaxNodes))
      return false;
  }
  return pos > start;
}
} // namespace

bool numa::parseNodeList(const std::string &text, std::vector<int> &nodes,
                         std::string &error) {
  nodes.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    int first, last;
    if (!parseNumber(text, pos, first))
      break;
    last = first;
    if (pos < text.size() && text[pos] == '-') {
      ++pos;
      if (!parseNumber(text, pos, last) || last < first)
        break;
    }
    for (int node = first; node <= last; ++node)
      nodes.push_back(node);
    if (pos == text.size())
      return true;
    if (text[pos++] != ',')
      break;
  }
  error = "bad NUMA node list '" + text + "' (expected e.g. 0 or 0-3,6)";
  return false;
}

std::vector<int> numa::onlineNodes() {
  std::ifstream file("/sys/devices/system/node/online");
  std::string line;
  std::vector<int> nodes;
  std::string error;
  if (!std::getline(file, line) || !parseNodeList(line, nodes, error) ||
      nodes.empty())
    return {0};
  return nodes;
}

bool numa::bind(void *memory, size_t bytes, int node, std::string &error) {
  unsigned long mask[kMaxNodes / kBitsPerWord] = {};
  mask[node / kBitsPerWord] = 1UL << (node % kBitsPerWord);
  if (syscall(SYS_mbind, memory, bytes, kMpolBind, mask, kMaxNodes, 0) == 0)
    return true;
  error = "cannot bind host pages to NUMA node " + std::to_string(node) + ": " +
          std::strerror(errno);
  return false;
}

int numa::nodeOf(const void *memory) {
  int node = -1;
  if (syscall(SYS_get_mempolicy, &node, nullptr, 0, memory,
              kMpolFNode | kMpolFAddr) != 0)
    return -1;
  return node;
}
